# (Run from benchmarks/planned/ as BUDGET=300 CALL=a4: the thirty-eighth session's call 4, 293 s from a cold start; both chains' runs were cut at 3 programs a SM, which never finished -- their records are the log lines.)
# Thirty-eighth session (BUDGET=300, cold start), after call 2's first reading (counter waits 1.45-1.76 us a boundary
# above the wait-free walk, PDL launches ~0.7; the volatile-polled form wrong: its one-lane acquire ordered no other
# lane): the polled form with a CTA barrier after its acquire, and one release a phase a program instead of one a
# tile (a release is a CTA barrier and a GPU-scope fence), at 2 and 3 programs a SM.
. benchmarks/device_call.sh
phase_boundary() {
    timeout "$2" python3 benchmarks/bench_phase_boundary.py --out "$R/pb$1" --chain "$1" --reps 50 \
        --variants launches,persistent,persistent-ld,persistent-once,free --programs-per-sm 2,3 2>&1 \
        | grep -v "$F" | tail -24 > "$R/pb$1.log"
    echo "pb$1 rc ${PIPESTATUS[0]} at $(since) s" >> "$R/pb$1.log"
}
phase_boundary 2b $(( $(left) / 2 ))
phase_boundary 7b $(( $(left) - 8 ))
finish_call
cat $R/pb2b.log $R/pb7b.log
