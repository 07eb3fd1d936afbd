[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# convert_hf on malformed checkpoints (issue 21, item 8): every config.json
# and safetensors header number is range-checked before it is cast, and a
# field of the wrong type or an unknown value is an error naming the file and
# the field, never a silent default.
echo "== convert_hf: malformed config.json and safetensors headers"
CV=$OUT/convert_hf
rm -rf "$CV"
mkdir -p "$CV"

# cv_config NAME FIXTURE JS: $CV/NAME is tests/fixtures/FIXTURE (its
# safetensors linked) with config.json as parsed into `c`, edited by JS.
cv_config() {
    local dir=$CV/$1 src=$ROOT/tests/fixtures/$2
    mkdir -p "$dir"
    ln -sf "$src/model.safetensors" "$dir/model.safetensors"
    node -e 'const fs = require("fs"), [src, dst] = process.argv.slice(1);
        const c = JSON.parse(fs.readFileSync(src, "utf8"));
        '"$3"';
        fs.writeFileSync(dst, JSON.stringify(c, null, 1));' "$src/config.json" "$dir/config.json"
}
# cv_header NAME FIXTURE JS: $CV/NAME is tests/fixtures/FIXTURE with the JSON
# header of model.safetensors as parsed into `h`, edited by JS (the data are
# kept; their offsets count from the end of the header).
cv_header() {
    local dir=$CV/$1 src=$ROOT/tests/fixtures/$2
    mkdir -p "$dir"
    cp "$src/config.json" "$dir/config.json"
    node -e 'const fs = require("fs"), [src, dst] = process.argv.slice(1);
        const b = fs.readFileSync(src), n = Number(b.readBigUInt64LE(0));
        const h = JSON.parse(b.subarray(8, 8 + n).toString("utf8"));
        '"$3"';
        const s = Buffer.from(JSON.stringify(h)), len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(s.length));
        fs.writeFileSync(dst, Buffer.concat([len, s, b.subarray(8 + n)]));' "$src/model.safetensors" "$dir/model.safetensors"
}
# cv_expect NAME REGEX: converting $CV/NAME fails with exit 1 and a message
# matching REGEX, and writes no output file.
cv_expect() {
    rm -f "$CV/x.bin"
    expect_error "convert_hf: $1" 1 "$2" "$CV/x.bin" -- "$B/convert_hf" "$CV/$1" "$CV/x.bin"
}
CFG='config\.json: '

# integers out of range: cast unchecked, 2^32+64 became 64 and 1e30 became 0
cv_config hidden_2p32 hf_f32 'c.hidden_size = 4294967360'
cv_expect hidden_2p32 "$CFG\"hidden_size\" must be an integer in \[1, 65536\], got 4294967360\$"
cv_config vocab_1e30 hf_f32 'c.vocab_size = 1e30'
cv_expect vocab_1e30 "$CFG\"vocab_size\" must be an integer in \[1, 16777216\], got 1e\+30\$"
cv_config layers_neg hf_f32 'c.num_hidden_layers = -1'
cv_expect layers_neg "$CFG\"num_hidden_layers\" must be an integer in \[1, 256\], got -1\$"
cv_config sliding_2p32 hf_f32 'c.sliding_window = 4294967302'
cv_expect sliding_2p32 "$CFG\"sliding_window\" must be an integer in \[0, 16777216\], got 4294967302\$"
cv_config initial_1e10 hf_f32 'c.initial_context_length = 1e10'
cv_expect initial_1e10 "$CFG\"initial_context_length\" must be an integer in \[1, 16777216\], got 10000000000\$"
cv_config original_max_neg hf_mxfp4 'delete c.initial_context_length; c.rope_parameters.original_max_position_embeddings = -256'
cv_expect original_max_neg "$CFG\"rope_parameters\"\.\"original_max_position_embeddings\" must be an integer in \[1, 16777216\], got -256\$"

# the wrong type where an integer belongs
cv_config heads_string hf_f32 'c.num_attention_heads = "4"'
cv_expect heads_string "$CFG\"num_attention_heads\" must be an integer in \[1, 1024\], got \"4\"\$"
cv_config head_dim_float hf_f32 'c.head_dim = 2.5'
cv_expect head_dim_float "$CFG\"head_dim\" must be an integer in \[1, 1024\], got 2\.5\$"
cv_config experts_array hf_mxfp4 'c.num_local_experts = [8]'
cv_expect experts_array "$CFG\"num_local_experts\" must be an integer in \[1, 1024\], got an array\$"
cv_config ept_alt_bool hf_f32 'delete c.num_experts_per_tok; c.experts_per_token = true'
cv_expect ept_alt_bool "$CFG\"experts_per_token\" must be an integer in \[1, 1024\], got true\$"
cv_config vocab_null hf_f32 'c.vocab_size = null'
cv_expect vocab_null "$CFG\"vocab_size\" is missing\$"

# layer_types: unknown values, other element types, the wrong shape
cv_config layer_local hf_f32 'c.layer_types[3] = "local"'
cv_expect layer_local "$CFG\"layer_types\"\[3\] must be \"sliding_attention\" or \"full_attention\", got \"local\"\$"
cv_config layer_number hf_mxfp4 'c.layer_types[1] = 1'
cv_expect layer_number "$CFG\"layer_types\"\[1\] must be \"sliding_attention\" or \"full_attention\", got 1\$"
cv_config layer_string hf_f32 'c.layer_types = "sliding_attention"'
cv_expect layer_string "$CFG\"layer_types\" must be an array of strings, got \"sliding_attention\"\$"
cv_config layer_short hf_f32 'c.layer_types.pop()'
cv_expect layer_short "$CFG\"layer_types\" has 3 entries, \"num_hidden_layers\" is 4\$"

# RoPE / YaRN and the other real-valued fields
cv_config factor_string hf_f32 'delete c.rope_parameters; c.rope_scaling.factor = "32"'
cv_expect factor_string "$CFG\"rope_scaling\"\.\"factor\" must be a number in \[1, 1024\], got \"32\"\$"
cv_config beta_bool hf_mxfp4 'c.rope_parameters.beta_fast = true'
cv_expect beta_bool "$CFG\"rope_parameters\"\.\"beta_fast\" must be a number in \[0, 10000\], got true\$"
cv_config rope_string hf_f32 'c.rope_parameters = "yarn"'
cv_expect rope_string "$CFG\"rope_parameters\" must be an object or null, got \"yarn\"\$"
cv_config rope_type_linear hf_f32 'c.rope_parameters.rope_type = "linear"'
cv_expect rope_type_linear "$CFG\"rope_parameters\"\.\"rope_type\" must be \"yarn\" or \"default\", got \"linear\"\$"
cv_config truncate_string hf_f32 'c.rope_parameters.truncate = "no"'
cv_expect truncate_string "$CFG\"rope_parameters\"\.\"truncate\" must be true or false, got \"no\"\$"
cv_config theta_string hf_f32 'c.rope_theta = "150000"'
cv_expect theta_string "$CFG\"rope_theta\" must be a number in \[1, 1e\+09\], got \"150000\"\$"
cv_config swiglu_huge hf_f32 'c.swiglu_limit = 1e300'
cv_expect swiglu_huge "$CFG\"swiglu_limit\" must be a number in \[0, 10000\], got 1e\+300\$"
cv_config eps_object hf_f32 'c.rms_norm_eps = {}'
cv_expect eps_object "$CFG\"rms_norm_eps\" must be a number in \[0, 1\], got an object\$"

# every field within its bounds, but a tensor past what the loader accepts
cv_config loader_limit hf_f32 'c.hidden_size = 65536; c.intermediate_size = 65536; c.num_local_experts = 1024'
cv_expect loader_limit "$CFG'layers\.0\.experts\.gate_up\.weight' would hold 8796093022208 elements, more than the 2\^40 the loader accepts\$"
# a config far larger than its checkpoint: found before any allocation
cv_config config_too_big hf_f32 'c.vocab_size = 16777216; c.hidden_size = 65536'
cv_expect config_too_big "model\.safetensors: tensor 'model\.embed_tokens\.weight' is \[512, 64\], the config needs \[16777216, 65536\]\$"

# safetensors headers
cv_header shape_1e30 hf_f32 'h["lm_head.weight"].shape[0] = 1e30'
cv_expect shape_1e30 "model\.safetensors: tensor 'lm_head\.weight': \"shape\"\[0\] must be an integer in \[0, 9007199254740992\], got 1e\+30\$"
cv_header shape_string hf_f32 'h["model.norm.weight"].shape[0] = "64"'
cv_expect shape_string "tensor 'model\.norm\.weight': \"shape\"\[0\] must be an integer in \[0, 9007199254740992\], got \"64\"\$"
cv_header offset_neg hf_f32 'h["lm_head.weight"].data_offsets = [-8, 131064]'
cv_expect offset_neg "model\.safetensors: tensor 'lm_head\.weight': \"data_offsets\"\[0\] must be an integer in \[0, [0-9]+\], got -8\$"
cv_header offset_past hf_mxfp4 'h["lm_head.weight"].data_offsets[1] = 1e20'
cv_expect offset_past "tensor 'lm_head\.weight': \"data_offsets\"\[1\] must be an integer in \[0, [0-9]+\], got 1e\+20\$"
cv_header offset_reversed hf_f32 'h["lm_head.weight"].data_offsets = [131072, 0]'
cv_expect offset_reversed "tensor 'lm_head\.weight': \"data_offsets\" \[131072, 0\] end before they begin\$"
# 2^96 elements wrapped to 0 in 64 bits and matched an empty data range
cv_header shape_wraps hf_f32 'h["extra"] = {dtype: "F32", shape: [4294967296, 4294967296, 4294967296], data_offsets: [0, 0]}'
cv_expect shape_wraps "tensor 'extra': \"shape\" \[4294967296, 4294967296, 4294967296\] needs more than the [0-9]+ bytes of data in the file\$"
cv_header offsets_size hf_f32 'h["model.norm.weight"].data_offsets[1] -= 4'
cv_expect offsets_size "tensor 'model\.norm\.weight': \"data_offsets\" \[[0-9]+, [0-9]+\] hold 252 bytes, its dtype and shape need 256\$"
cv_header dtype_i64 hf_f32 'h["model.norm.weight"].dtype = "I64"'
cv_expect dtype_i64 "tensor 'model\.norm\.weight': \"dtype\" must be F32, BF16, F16 or U8, got \"I64\"\$"

# the unmodified fixtures still convert, and the f32 one still matches HF
for f in f32 mxfp4; do
    rm -f "$CV/hf_$f.bin"
    check "convert_hf: the unmodified hf_$f fixture converts" "$B/convert_hf" "$ROOT/tests/fixtures/hf_$f" "$CV/hf_$f.bin"
done
run_c convert_hf_forward_f32 "$B/test_forward" "$CV/hf_f32.bin" "$ROOT/tests/fixtures/hf_f32" 1e-4
# the output may not be one of the checkpoint's own files
rm -rf "$CV/own" && cp -r "$ROOT/tests/fixtures/hf_f32" "$CV/own"
expect_error "convert_hf: the output naming the checkpoint's own shard is refused" 1 "model.safetensors: the output is the same file as a file of the checkpoint" \
    "$CV/own/model.safetensors" -- "$B/convert_hf" "$CV/own" "$CV/own/model.safetensors"
check "convert_hf: the shard is intact after the refusal" cmp -s "$ROOT/tests/fixtures/hf_f32/model.safetensors" "$CV/own/model.safetensors"
