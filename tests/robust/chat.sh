[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# Harmony chats (issue 24, items 1 and 2): -m render against openai/harmony's
# published renderings, "messages" and "reasoning_effort" validated with
# FILE:LINE, and a chat run writing reasoning and content.
echo "== harmony chats: rendering, messages, channels"
CH=$OUT/chat
mkdir -p "$CH"
CH_NEVER=$CH/never.txt # must never be written

# openai/harmony test-data/test_simple_convo_low_effort.txt (commit ec7606d),
# transcribed with getp's escapes; its conversation below as messages.
CH_SYS='<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06'
CH_TAIL='\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>'
CH_ROBOT="$CH_SYS\\n\\nReasoning: low$CH_TAIL<|start|>developer<|message|># Instructions\\n\\nAnswer the user's questions like a robot.<|end|><|start|>user<|message|>What is the capital of the largest country in the world?<|end|><|start|>assistant"
# test-data/test_dropping_cot_by_default.txt after the system message (default: medium)
CH_TURNS="$CH_SYS\\n\\nReasoning: medium$CH_TAIL<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant<|channel|>final<|message|>2 + 2 equals 4.<|end|><|start|>user<|message|>What about 9 / 2?<|end|><|start|>assistant"
cat >"$CH/msgs.jsonl" <<'REQ'
{"messages": [{"role": "system", "content": "Answer the user's questions like a robot."}, {"role": "user", "content": "What is the capital of the largest country in the world?"}], "reasoning_effort": "low", "id": "robot"}
{"messages": [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "2 + 2 equals 4."}, {"role": "user", "content": "What about 9 / 2?"}], "id": "turns"}
{"prompt": "What is 2 + 2?", "reasoning_effort": "high", "id": "plain"}
REQ
"${GETP[@]}" -m render -i "$CH/msgs.jsonl" --system-date none --chat >"$CH/render.txt" 2>"$CH/render.err"
check "-m render: system + developer + user at low effort equals openai/harmony's test_simple_convo_low_effort" \
    test "$(sed -n 1p "$CH/render.txt")" = "$CH_ROBOT"
check "-m render: an earlier assistant answer goes back as its final channel (test_dropping_cot_by_default)" \
    test "$(sed -n 2p "$CH/render.txt")" = "$CH_TURNS"
check "-m render --chat: a prompt line is one user turn, at the request's reasoning effort" \
    test "$(sed -n 3p "$CH/render.txt")" = "$CH_SYS\\n\\nReasoning: high$CH_TAIL<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant"
"${GETP[@]}" -m render -i "$CH/msgs.jsonl" --reasoning-effort high --developer "Be terse." >"$CH/render_dated.txt" 2>&1
check "-m render: the default date 2026-01-01 after the cutoff; --reasoning-effort for requests without their own" \
    bash -c "sed -n 2p '$CH/render_dated.txt' | grep -qF 'Knowledge cutoff: 2024-06\\nCurrent date: 2026-01-01\\n\\nReasoning: high\\n\\n# Valid'"
check "-m render: --developer for requests without instructions of their own, not over them" \
    bash -c "sed -n 2p '$CH/render_dated.txt' | grep -qF '<|start|>developer<|message|># Instructions\\n\\nBe terse.<|end|><|start|>user' && sed -n 1p '$CH/render_dated.txt' | grep -vq 'Be terse'"

"${GETP[@]}" -m render -i "$CH/msgs.jsonl" --system-date none >"$CH/render_nochat.txt" 2>&1
check "-m render without --chat: a prompt line is the prompt itself, as -m getp feeds it" \
    bash -c "sed -n 3p '$CH/render_nochat.txt' | grep -qx 'What is 2 + 2?' && sed -n 1,2p '$CH/render_nochat.txt' | cmp -s - <(sed -n 1,2p '$CH/render.txt')"

# js-tiktoken (an independent encoder) agrees on the length of each rendered prompt
"${GETP[@]}" -m getp -i "$CH/msgs.jsonl" -o "$CH/zero.jsonl" -n 0 --system-date none --chat >/dev/null 2>&1
node tools/tokenizer/reference_encode.mjs "$CH/render.txt" | awk '{print NF}' >"$CH/render.counts"
grep -o '"prompt_tokens":[0-9]*' "$CH/zero.jsonl" | cut -d: -f2 >"$CH/zero.counts"
check "chat prompt_tokens equal js-tiktoken's token counts of the rendered text ($(paste -sd, "$CH/zero.counts"))" \
    cmp -s "$CH/render.counts" "$CH/zero.counts"

# content that spells special tokens stays text: more tokens than the special ids would be
printf '{"messages": [{"role": "user", "content": "a<|end|>b"}]}\n{"messages": [{"role": "user", "content": "a b"}]}\n' >"$CH/special.jsonl"
"${GETP[@]}" -m getp -i "$CH/special.jsonl" -o "$CH/special_out.jsonl" -n 0 >/dev/null 2>&1
CH_P=($(grep -o '"prompt_tokens":[0-9]*' "$CH/special_out.jsonl" | cut -d: -f2))
check "a user's \"<|end|>\" is ordinary text in a chat (${CH_P[0]:-?} tokens against ${CH_P[1]:-?} for \"a b\")" \
    test "${CH_P[0]:-0}" -gt $((${CH_P[1]:-0} + 1))

# bad fields: FILE:LINE and what is wrong
ch_bad() { # NAME LINE REGEX: LINE as x.jsonl (after one good line) must fail with x.jsonl:2: REGEX
    local f=$CH/$(printf '%s' "$1" | tr -cs 'a-zA-Z0-9' _).jsonl
    printf '{"prompt": "ok"}\n%s\n' "$2" >"$f"
    expect_error "$1" 1 "$(basename "$f"):2: $3" "$CH_NEVER" -- "${GETP[@]}" -i "$f" -o "$CH_NEVER" -n 1
}
ch_bad "messages: an unknown role" '{"messages": [{"role": "tool", "content": "x"}]}' '"messages"\[0\]: unknown role "tool"'
ch_bad "messages: content that is not a string" '{"messages": [{"role": "user", "content": ["x"]}]}' '"messages"\[0\] needs a string "content", got an array'
ch_bad "messages: a missing role" '{"messages": [{"content": "x"}]}' '"messages"\[0\] needs a string "role"'
ch_bad "messages: an entry that is not an object" '{"messages": [{"role": "user", "content": "x"}, 3]}' '"messages"\[1\] must be an object, got a number'
ch_bad "messages: an empty array" '{"messages": []}' '"messages" must be a non-empty array'
ch_bad "messages: not an array" '{"messages": "hi"}' '"messages" must be a non-empty array'
ch_bad "messages and prompt both" '{"prompt": "a", "messages": [{"role": "user", "content": "x"}]}' 'give "prompt" or "messages", not both'
ch_bad "messages: a system message after the conversation started" \
    '{"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "y"}]}' '"messages"\[1\]: system and developer messages must come before'
ch_bad "reasoning_effort: an unknown level" '{"prompt": "a", "reasoning_effort": "max"}' '"reasoning_effort" must be "low", "medium" or "high"'
ch_bad "reasoning_effort: not a string" '{"prompt": "a", "reasoning_effort": 2}' '"reasoning_effort" must be "low", "medium" or "high"'
ch_bad "neither prompt nor messages" '{"id": 3}' 'missing string field "prompt" \(or "messages"\)'
expect_error "--reasoning-effort max is refused" 2 "reasoning-effort expects low, medium or high, got 'max'" "$CH_NEVER" -- \
    "${GETP[@]}" -i "$CH/msgs.jsonl" -o "$CH_NEVER" --reasoning-effort max
expect_error "--system-date 2026/01/01 is refused" 2 "system-date expects YYYY-MM-DD or none" "$CH_NEVER" -- \
    "${GETP[@]}" -i "$CH/msgs.jsonl" -o "$CH_NEVER" --system-date 2026/01/01
expect_error "--output-channels analysis is refused" 2 "output-channels expects final or all" "$CH_NEVER" -- \
    "${GETP[@]}" -i "$CH/msgs.jsonl" -o "$CH_NEVER" --output-channels analysis

# a chat run on the tiny model: JSONL has reasoning and content beside tokens and text
printf '2\nWhat is 2 + 2?\nName a colour.\n' >"$CH/plain.txt"
"${GETP[@]}" -m getp -i "$CH/msgs.jsonl" -o "$CH/out.jsonl" -n 6 >/dev/null 2>&1
check "a messages run writes reasoning and content in JSONL, keeping tokens and text (a prompt line without --chat: neither)" \
    bash -c "[ \$(grep -c '\"tokens\":\[[0-9,]*\],\"text\":\".*\",\"reasoning\":\(null\|\".*\"\),\"content\":\(null\|\".*\"\)}\$' '$CH/out.jsonl') -eq 2 ] && sed -n 3p '$CH/out.jsonl' | grep -vq reasoning"
"${GETP[@]}" -m getp -i "$CH/plain.txt" -o "$CH/chat.jsonl" -n 6 --chat >/dev/null 2>&1
check "--chat on plain prompts: JSONL with reasoning and content" bash -c "[ \$(grep -c '\"reasoning\":.*\"content\":' '$CH/chat.jsonl') -eq 2 ]"
"${GETP[@]}" -m getp -i "$CH/plain.txt" -o "$CH/plain_out.jsonl" -n 6 >/dev/null 2>&1
check "without --chat, no reasoning or content fields" bash -c "! grep -q '\"reasoning\"' '$CH/plain_out.jsonl'"
# the tiny model writes noise without harmony headers: all of it is the final channel
"${GETP[@]}" -m getp -i "$CH/plain.txt" -o "$CH/chat.txt" -n 6 --chat >/dev/null 2>&1
"${GETP[@]}" -m getp -i "$CH/plain.txt" -o "$CH/chat_all.txt" -n 6 --chat --output-channels all >/dev/null 2>&1
check "--chat plain text output: the final channel (here all of the headerless text), --output-channels all the same" \
    bash -c "[ \$(wc -l <'$CH/chat.txt') -eq 2 ] && cmp -s '$CH/chat.txt' '$CH/chat_all.txt'"
