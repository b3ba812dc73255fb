# Sourced from the repository root by device_call.sh and gpu_check.sh on a lent GPU machine: the built libraries
# carried xz-packed (the tracked tree, ~45 MB, leaves no room for build/'s 11 MB in a call's 64 MiB; made here with
# `tar -cJf build/packed/libs.tar.xz -C build cutlass/libvlmq_mixed_gemm.so [variants/...]`, carried as build/packed)
# unpacked into build/, and VLMQ_CUTLASS_LIB exported where the CUTLASS library is (unless already set).
if [ -f build/packed/libs.tar.xz ]; then
    tar -xJf build/packed/libs.tar.xz -C build
fi
if [ -f build/cutlass/libvlmq_mixed_gemm.so ]; then
    export VLMQ_CUTLASS_LIB=${VLMQ_CUTLASS_LIB:-$PWD/build/cutlass/libvlmq_mixed_gemm.so}
fi
