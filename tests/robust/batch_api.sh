[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# The OpenAI Batch API format (issue 24, item 3): a file of chat and
# completion lines with bad ones among them runs through getp and
# getp_mpi -np 2 with identical output; the good lines are answered, the bad
# ones carry their errors, and every output line has the Batch API's output
# schema (tools/batch_output_check.mjs). --on-error abort keeps the strict way.
echo "== OpenAI Batch API files: in, out, errors per line"
BA=$OUT/batch_api
mkdir -p "$BA"
BA_NEVER=$BA/never.jsonl # must never be written
BA_LONG=$(printf 'word %.0s' $(seq 300))
# No .jsonl name: the format is recognised from the content.
cat >"$BA/batch.txt" <<REQ
{"custom_id": "chat-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-oss-20b", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "max_completion_tokens": 6, "n": 1, "logprobs": false, "stop": null}}
{"custom_id": "cmpl-1", "method": "POST", "url": "/v1/completions", "body": {"model": "x", "prompt": "Once upon a time", "max_tokens": 5, "temperature": 0.7, "seed": 3}}

{"custom_id": "bad-field", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "x"}], "colour": "red"}}
{"custom_id": "too-long", "method": "POST", "url": "/v1/completions", "body": {"prompt": "$BA_LONG", "max_tokens": 4}}
{"custom_id": "chat-2", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "Count"}], "max_tokens": 9, "max_completion_tokens": 4, "reasoning_effort": "low"}}
{"custom_id": "bias", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "Count"}], "logit_bias": {"1": 2}}}
{"custom_id": "hot", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "Count"}], "temperature": 3}}
{"custom_id": "cmpl-2", "method": "POST", "url": "/v1/completions", "body": {"prompt": "1, 2, 3,", "max_tokens": 3}}
not json
{"custom_id": "n-three", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "Count"}], "n": 3, "temperature": 1, "seed": 5, "logprobs": true, "top_logprobs": 2}}
{"custom_id": "cmpl-lp", "method": "POST", "url": "/v1/completions", "body": {"prompt": "1, 2, 3,", "max_tokens": 3, "logprobs": 3, "top_k": 5, "min_p": 0.1, "temperature": 0.8}}
{"custom_id": "top-lp-alone", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}}
REQ
BA_ARGS=(-i "$BA/batch.txt" --ctx 128 -n 7)
"${GETP[@]}" "${BA_ARGS[@]}" -o "$BA/getp.jsonl" >/dev/null 2>"$BA/getp.err"
check "getp: a Batch API file with bad lines runs to the end (exit 0)" test $? -eq 0
check "the output has the Batch API's schema, one line per request in input order" node "$ROOT/tools/batch_output_check.mjs" "$BA/getp.jsonl" "$BA/batch.txt"
ba_line() { sed -n "$1p" "$BA/getp.jsonl"; }
check "every good line is answered (status 200)" \
    test "$(grep -c '"status_code":200' "$BA/getp.jsonl")" -eq 6
check "a chat line is answered as a chat.completion with message, reasoning_content and usage" \
    grep -q '^{"id":"batch_req_0","custom_id":"chat-1","response":{"status_code":200,"request_id":"req_0","body":{"id":"chatcmpl-0","object":"chat.completion","choices":\[{"index":0,"message":{"role":"assistant","content":' <(ba_line 1)
check "a completions line is answered as a text_completion with text" grep -q '"object":"text_completion","choices":\[{"index":0,"text":' <(ba_line 2)
check "max_tokens and max_completion_tokens: the smaller wins" grep -q '"completion_tokens":4,' <(ba_line 5)
check "an unknown body field is that line's error" \
    grep -qF '{"id":"batch_req_2","custom_id":"bad-field","response":null,"error":{"code":"invalid_request","message":"line 4: body: unknown field \"colour\""}}' <(ba_line 3)
check "a prompt over the context is that line's error" \
    grep -qF '"custom_id":"too-long","response":null,"error":{"code":"context_length_exceeded","message":"line 5: the prompt is longer than the context of 128 tokens' <(ba_line 4)
check "a field not supported yet (logit_bias) is that line's error" grep -qF '"error":{"code":"unsupported_parameter","message":"line 7: body: \"logit_bias\"' <(ba_line 6)
check "n 3: three choices (index 0, 1, 2), each with the chat API's logprobs" \
    node -e 'const b = JSON.parse(process.argv[1]).response.body; const ok = b.choices.length === 3 && b.choices.every((c, i) => c.index === i && c.logprobs.content.length > 0 && c.logprobs.content.every(t => t.top_logprobs.length === 2)); process.exit(ok ? 0 : 1)' "$(ba_line 10)"
check "n 3: usage counts the tokens of all three choices" \
    node -e 'const b = JSON.parse(process.argv[1]).response.body; const n = b.choices.reduce((s, c) => s + c.logprobs.content.length, 0); process.exit(b.usage.completion_tokens === n ? 0 : 1)' "$(ba_line 10)"
check "a completions line's logprobs 3: tokens, token_logprobs, top_logprobs (3 each), text_offset" \
    node -e 'const l = JSON.parse(process.argv[1]).response.body.choices[0].logprobs; const ok = l.tokens.length === 3 && l.token_logprobs.length === 3 && l.top_logprobs.every(t => Object.keys(t).length <= 3 && Object.keys(t).length > 0) && l.text_offset[0] === 0; process.exit(ok ? 0 : 1)' "$(ba_line 11)"
check "top_logprobs without logprobs: true is that line's error" grep -qF '"message":"line 13: \"top_logprobs\" needs \"logprobs\": true"' <(ba_line 12)
check "a bad value (temperature 3) is that line's error" grep -qF '"error":{"code":"invalid_request","message":"line 8: \"temperature\" must be a number in [0, 2], got 3"' <(ba_line 7)
check "a line that is not JSON is that line's error, custom_id null" grep -qF '"custom_id":null,"response":null,"error":{"code":"invalid_json"' <(ba_line 9)
"${GETP[@]}" "${BA_ARGS[@]}" -o "$BA/getp2.jsonl" >/dev/null 2>&1
check "the output is the same on a second run (stable ids)" cmp -s "$BA/getp.jsonl" "$BA/getp2.jsonl"

expect_error "--on-error abort: the first bad line fails the run, no output" 1 'batch\.txt:4: body: unknown field "colour"' "$BA_NEVER" -- \
    "${GETP[@]}" "${BA_ARGS[@]}" -o "$BA_NEVER" --on-error abort
printf '{"custom_id": "a", "method": "POST", "url": "/v1/completions", "body": {"prompt": "%s"}}\n' "$BA_LONG" >"$BA/long_only.jsonl"
expect_error "--on-error abort: a prompt over the context fails the run, no output" 1 'long_only\.jsonl:1: the prompt is longer than the context of 128' \
    "$BA_NEVER" -- "${GETP[@]}" -i "$BA/long_only.jsonl" --ctx 128 -o "$BA_NEVER" --on-error abort
printf '1\nhello\n' >"$BA/plain.txt"
expect_error "--on-error record is refused for getp's own formats" 1 'plain\.txt: --on-error record is for OpenAI Batch API files' "$BA_NEVER" -- \
    "${GETP[@]}" -i "$BA/plain.txt" -o "$BA_NEVER" --on-error record
printf '{"prompt": "hi"}\n' >"$BA/own.jsonl"
"${GETP[@]}" -i "$BA/own.jsonl" -o "$BA/forced.jsonl" --input-format batch -n 2 >/dev/null 2>&1
check "--input-format batch: a line of getp's own JSONL is a Batch API line's error" \
    grep -qF '"custom_id":null,"response":null,"error":{"code":"invalid_request","message":"line 1: unknown field \"prompt\"' "$BA/forced.jsonl"
expect_error "--input-format takes auto, getp or batch" 2 "--input-format expects auto, getp or batch" "$BA_NEVER" -- \
    "${GETP[@]}" -i "$BA/own.jsonl" -o "$BA_NEVER" --input-format openai

if [ -x "$B/getp_mpi" ] && command -v mpirun >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    timeout 60 mpirun --oversubscribe -np 2 "$B/getp_mpi" "$M" --tokenizer "$TOK" "${BA_ARGS[@]}" -o "$BA/mpi.jsonl" >/dev/null 2>"$BA/mpi.err"
    check "getp_mpi -np 2: the same Batch API output as getp (bad lines kept on rank 0, in order)" cmp -s "$BA/getp.jsonl" "$BA/mpi.jsonl"
    expect_error "getp_mpi --on-error abort: the first bad line fails the run, no output" 1 'batch\.txt:4: body: unknown field "colour"' "$BA_NEVER" -- \
        timeout 9 mpirun --oversubscribe -np 2 "$B/getp_mpi" "$M" --tokenizer "$TOK" "${BA_ARGS[@]}" -o "$BA_NEVER" --on-error abort
fi
