// The header, implementation included, must compile as C++.
#define RWKV_IMPLEMENTATION
#include "rwkv.h"

int main() {
    rwkv_sampler_params p = rwkv_sampler_default_params();
    return rwkv_result_string(RWKV_OK) != 0 && p.top_p == 1.0f ? 0 : 1;
}
