# Adds up the attack suite's records (one line per test process, see attack_summary.hpp) and
# prints the one summary. Fails when no record was written or a daemon was found dead.
{ tried += $1; refused += $2; alive += $3; dead += $4; n += 1
  if ($5 > threads) threads = $5; if ($6 > fds) fds = $6; if ($7 > rss) rss = $7 }
END {
    if (n == 0) { print "attack summary: no records (did the attack tests run?)"; exit 1 }
    printf "attack summary: %d inputs tried, %d refused, daemon alive at the end of %d of %d tests, " \
           "peak threads %d, peak descriptors %d, peak RSS %.1f MiB\n",
           tried, refused, alive, alive + dead, threads, fds, rss / 1024
    if (dead > 0) exit 1
}
