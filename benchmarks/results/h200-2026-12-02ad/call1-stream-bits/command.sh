# Planned by the thirtieth session (CPU only; ~60 s on a warm machine): the int4 stream with a GEMV's work done as the
# engine's tiles do it (`--work bits`: nibble pairs as the bf16 bits of 128 + q, two FFMAs a pair, each word's
# group scale and (136 + z) correction applied in place, no exchange across lanes) beside the XOR and the plain form,
# at 8 / 16 rows, 256 / 512 bytes a row a load, 1 / 2 / 4 warps; then the shipped int4 tiles on the same machine. The
# question: does a tile whose warps split rows (the stream's layout) run the engine's arithmetic under the shipped
# 1-warp tile's 28.5 us on the 7b gate/up? If yes, that layout is the sum kernel's next form.
. benchmarks/device_call.sh
timeout 200 python3 benchmarks/bench_weight_stream.py --out $R/stream --rows 8,16 --words 64,128 --warps 1,2,4 \
    --stages 1 --work xor,dot-scaled,bits --matrices "7b gate_up int4" 2>&1 | grep -v "$F" > $R/stream.log
echo "stream rc ${PIPESTATUS[0]} at $(since) s" >> $R/stream.log
w4_tiles $(( $(left) - 6 )) --presets 7b
finish_call
tail -40 $R/stream.log; cat $R/bench.log
