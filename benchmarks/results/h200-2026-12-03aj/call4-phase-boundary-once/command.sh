# (Run from benchmarks/planned/ as BUDGET=300 CALL=a4: the thirty-eighth session's call 4, 293 s from a cold start; both chains' runs were cut at 3 programs a SM, which never finished -- their records are the log lines. The
# phase_boundary helper it defined inline is now device_call.sh's, the same command line; the committed script refuses
# --programs-per-sm 3 since.)
# Thirty-eighth session (BUDGET=300, cold start), after call 2's first reading (counter waits 1.45-1.76 us a boundary
# above the wait-free walk, PDL launches ~0.7; the volatile-polled form wrong: its one-lane acquire ordered no other
# lane): the polled form with a CTA barrier after its acquire, and one release a phase a program instead of one a
# tile (a release is a CTA barrier and a GPU-scope fence), at 2 and 3 programs a SM.
. benchmarks/device_call.sh
FLAGS=(--variants launches,persistent,persistent-ld,persistent-once,free --programs-per-sm 2,3)
phase_boundary 2b $(( $(left) / 2 )) "${FLAGS[@]}"
phase_boundary 7b $(( $(left) - 8 )) "${FLAGS[@]}"
finish_call
cat $R/pb2b.log $R/pb7b.log
