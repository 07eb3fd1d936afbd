// The o200k_harmony special tokens: o200k_base's ranks plus these ids, the
// rest of 199998..201087 named <|reserved_N|>. Shared by make_tokenizer.mjs
// (which writes getp's tokenizer file) and reference_encode.mjs (the oracle).
export const VOCAB_SIZE = 201088;
const NAMED = {
  199998: "<|startoftext|>",
  199999: "<|endoftext|>",
  200002: "<|return|>",
  200003: "<|constrain|>",
  200005: "<|channel|>",
  200006: "<|start|>",
  200007: "<|end|>",
  200008: "<|message|>",
  200012: "<|call|>",
  200018: "<|endofprompt|>",
};
export function harmonySpecialTokens(firstSpecial) {
  const special = {};
  for (let id = firstSpecial; id < VOCAB_SIZE; id++) special[NAMED[id] ?? `<|reserved_${id}|>`] = id;
  return special;
}
