# Sourced by the scripts that execute or test the notebooks: the book is executed and tested under
# canonical numerics (vaelib.numerics), the same bits on any x86-64 CPU with AVX2, so that stored
# outputs reproduce on every machine. numpy's and scipy's own OpenBLAS (the metrics' mixture fits)
# read their core type when they are loaded, before vaelib can pin them: export it here.
export VAELIB_NUMERICS="${VAELIB_NUMERICS:-canonical}"
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
