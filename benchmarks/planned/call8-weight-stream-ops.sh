# Twenty-ninth session, call 8 (the last device seconds): how much work a word an int4 GEMV can afford before the
# stream drops -- bench_weight_stream.py on the 7b gate/up's int4 words, 16 rows a program, 256 or 512 bytes a row a
# load, 1 or 4 warps, 0-32 dependent multiply-adds a word (a word holds 8 weights).
. benchmarks/device_call.sh
timeout $(( $(left) - 6 )) python3 benchmarks/bench_weight_stream.py --out $R/stream --rows 16 --words 64,128 \
    --warps 1,4 --stages 1 --ops 0,4,8,16,32 --matrices "7b gate_up int4" 2>&1 | grep -v "$F" > $R/stream.log
echo "stream rc ${PIPESTATUS[0]} at $(since) s" >> $R/stream.log
finish_call
tail -24 $R/stream.log
