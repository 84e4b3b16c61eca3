/* A small byte-level BPE tokenizer.json: fuzz_bpe's fixed tokenizer and a
   seed of make_seeds. */
static const char small_json[] =
    "{\"added_tokens\":[{\"id\":0,\"content\":\"<|endoftext|>\",\"single_word\":false,\"lstrip\":false,"
    "\"rstrip\":false,\"normalized\":false,\"special\":true}],\"normalizer\":{\"type\":\"NFC\"},"
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true},"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"<|endoftext|>\":0,\"t\":1,\"h\":2,\"e\":3,\"th\":4,\"the\":5,"
    "\"\\u0120\":6,\"\\u0120the\":7,\"a\":8},\"merges\":[\"t h\",\"th e\",\"\\u0120 the\"]}}";
