# (Run from benchmarks/planned/ as BUDGET=420 CALL=a3: the thirty-eighth session's call 3, 100 s from a cold start -- its third attempt: the first stopped at the check (the chain's rows overflowed to NaN before the RMS normalization was added), the second at a compile error (a global the JIT refuses; since then a CPU test compiles the kernel for sm_90). The phase_boundary helper it defined
# inline is now device_call.sh's, the same command line.)
# Thirty-eighth session (BUDGET=420, cold start): what a dependency between two decode GEMVs costs as a kernel boundary
# (a PDL launch a GEMV, the engine's form) against a counter wait inside one persistent launch (the persistent layer
# kernel benchmarks/planned/README.md sketches): bench_phase_boundary.py on the 2b and 7b decoders' BF16 GEMV chains.
. benchmarks/device_call.sh
phase_boundary 2b $(( $(left) / 2 ))
phase_boundary 7b $(( $(left) - 8 ))
finish_call
cat $R/pb2b.log $R/pb7b.log
