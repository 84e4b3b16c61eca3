/* f16.h - IEEE-754 binary16 <-> binary32 conversion, the tests' own (an
 * implementation independent of rwkv.h's, to check it against).
 *
 * Header-only, all functions static inline, bit-exact on any host (no FPU
 * half support needed). f16_from_f32 rounds to nearest, ties to even, like the
 * hardware conversions: values too large become infinity, values too small
 * become (signed) zero or a subnormal, NaN stays NaN.
 */
#ifndef F16_H
#define F16_H

#include <stdint.h>
#include <string.h>

static inline uint16_t f16_from_f32(float value) {
    uint32_t bits, sign, mantissa, rest, half;
    int exponent;
    memcpy(&bits, &value, 4);
    sign = (bits >> 16) & 0x8000u;
    exponent = (int)((bits >> 23) & 0xff) - 127 + 15; /* rebias */
    mantissa = bits & 0x7fffffu;
    if (exponent == 0xff - 127 + 15) /* inf, or NaN (kept quiet, never inf) */
        return (uint16_t)(sign | 0x7c00u | (mantissa ? 0x200u | (mantissa >> 13) : 0));
    if (exponent >= 31) return (uint16_t)(sign | 0x7c00u); /* overflow */
    if (exponent <= 0) {
        /* subnormal half: the value in units of 2^-24, shifted out of the
           24-bit significand (implicit bit included); below 2^-25 it is 0 */
        int shift = 14 - exponent;
        if (shift > 24) return (uint16_t)sign;
        mantissa |= 0x800000u;
        half = mantissa >> shift;
        rest = mantissa & ((1u << shift) - 1);
        if (rest > (1u << (shift - 1)) || (rest == (1u << (shift - 1)) && (half & 1)))
            half++; /* may carry into the smallest normal: still right */
        return (uint16_t)(sign | half);
    }
    half = ((uint32_t)exponent << 10) | (mantissa >> 13);
    rest = mantissa & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1)))
        half++; /* a carry out of the mantissa bumps the exponent, up to inf */
    return (uint16_t)(sign | half);
}

static inline float f16_to_f32(uint16_t half) {
    uint32_t sign = (uint32_t)(half & 0x8000u) << 16;
    uint32_t exponent = (half >> 10) & 0x1fu;
    uint32_t mantissa = half & 0x3ffu;
    uint32_t bits;
    float value;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else { /* subnormal half: normalise, it is a normal float */
        exponent = 127 - 15 + 1;
        while (!(mantissa & 0x400u)) {
            mantissa <<= 1;
            exponent--;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
    }
    memcpy(&value, &bits, 4);
    return value;
}

#endif /* F16_H */
