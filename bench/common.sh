# bench/common.sh: what bench/run and bench/large share (sourced): the machine's settings for
# every system alike, messages and the timed command.

# the core type the tools pick for themselves, given to the peers too
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -qw avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
cores=$(nproc)
# FAISS's OpenMP threads sleep instead of spinning when idle: on a shared 2-core machine
# spinning threads steal the cores the other thread and process need (measured: IVF_PQ
# training 4x slower). It only speeds the peers up; vecseg does not use OpenMP.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# the smallest of the numbers on stdin
best() { sort -g | head -n 1; }
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }
# the last line of a file, tabs and newlines flattened, for a failure note
why() { tail -n 1 "$1" 2>/dev/null | tr '\t' ' ' | sed 's/ *$//' | cut -c1-200; }

# timed CMD...: runs CMD under the time limit with stdout to $tmp/stdout and stderr to
# $tmp/stderr; sets t_secs (wall clock), t_rss (peak RSS kB), t_majflt (major page faults)
# and t_rc.
timed() {
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f "%M %F" -o "$tmp/rss" timeout "$limit" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  t_rc=$?
  t1=$(date +%s%N)
  t_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
  read -r t_rss t_majflt < <(tail -n 1 "$tmp/rss" 2>/dev/null)
  [ "$t_rc" -eq 124 ] && echo "timed out after $limit s (BENCH_TIMEOUT)" >>"$tmp/stderr"
  return 0
}

