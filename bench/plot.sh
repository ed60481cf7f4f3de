#!/bin/bash
# Draws what the benchmarks measured, as SVG. After 'make bench'
# (bench/run.sh calls it):
#   OUT/throughput.svg  requests/s of every path taking many requests at
#                       once, with the helper's target marked;
#   OUT/latency.svg     p50 and p99 of every path taking one request at a
#                       time (ping-pong), with the target marked.
# After 'make bench-e2e' (bench/storm.sh calls it, with --storm):
#   OUT/storm.svg       logins/s, latency and CPU per login of each row of
#                       the login storm, with the targets marked.
#
#   bench/plot.sh OUT THROUGHPUT_TARGET LATENCY_TARGET_US TITLE
#   bench/plot.sh --storm OUT TITLE
#
# OUT/rows.tsv holds the rows (label, description, requests/s, p50 us, p99
# us), OUT/storm.tsv the storm's (row, logins/s, p50 ms, p99 ms, server
# and helpers CPU us per login), tab-separated. Needs gnuplot (Debian
# package gnuplot-nox); without it, says so and draws nothing.
set -u

# What every picture shares: tab-separated rows, horizontal bars, one
# label a row, top to bottom.
STYLE='set datafile separator "\t"
set style fill solid 0.85 border lc rgb "#333333"
set grid xtics lc rgb "#dddddd"
set border 3
set ytics nomirror scale 0
set xtics nomirror
set yrange [-0.7:*] reverse'

if ! command -v gnuplot >/dev/null; then
	echo "bench: no gnuplot (Debian package gnuplot-nox): no pictures drawn"
	exit 0
fi

if [ "$1" = --storm ]; then
	out=$2 title=$3
	[ -s "$out/storm.tsv" ] || { echo "bench: no storm rows to draw" >&2; exit 1; }
	# The target: at least 0.95 of internal_plain's logins/s.
	plain=$(awk -F'\t' '$1 == "prosody/internal_plain" { print $2 }' "$out/storm.tsv")
	gnuplot <<GP
set terminal svg size 900,900 dynamic font "sans,13" background "white"
set output "$out/storm.svg"
$STYLE
set key below center vertical Left reverse noenhanced
set ytics noenhanced
set multiplot layout 3,1 title "Login storms through real servers\n{/*0.8 $title}"
set title "logins per second"
set xrange [0:*]
$( [ -n "$plain" ] && echo "set arrow 1 from $(awk -v p="$plain" 'BEGIN { print 0.95 * p }'), graph 0 to $(awk -v p="$plain" 'BEGIN { print 0.95 * p }'), graph 1 nohead front dt 2 lw 2 lc rgb \"#c0392b\"" )
plot "$out/storm.tsv" using (\$2):0:(0):(\$2):(\$0-0.38):(\$0+0.38):ytic(1) \
	with boxxyerror lc rgb "#4a7ab5" notitle, \
     NaN with lines dt 2 lw 2 lc rgb "#c0392b" \
	title "target for prosody/token: at least 0.95 of prosody/internal_plain"
unset arrow 1
set title "latency of a login, milliseconds"
plot "$out/storm.tsv" using (\$4):0:(0):(\$4):(\$0-0.38):(\$0+0.38):ytic(1) \
	with boxxyerror lc rgb "#b9cde5" title "p99", \
     "$out/storm.tsv" using (\$3):0:(0):(\$3):(\$0-0.38):(\$0+0.38) \
	with boxxyerror lc rgb "#4a7ab5" title "p50"
set title "CPU per login, microseconds (log scale)"
set logscale x
set xrange [1:*]
set arrow 2 from 30, graph 0 to 30, graph 1 nohead front dt 2 lw 2 lc rgb "#c0392b"
plot "$out/storm.tsv" using (\$5):0:(1):(\$5):(\$0-0.4):(\$0):ytic(1) \
	with boxxyerror lc rgb "#4a7ab5" title "the XMPP server", \
     "$out/storm.tsv" using (\$6 > 0 ? \$6 : NaN):0:(1):(\$6):(\$0):(\$0+0.4) \
	with boxxyerror lc rgb "#e6a04b" title "the helpers (token rows)", \
     NaN with lines dt 2 lw 2 lc rgb "#c0392b" title "target for the helpers: at most 30 us a login"
unset multiplot
GP
	echo "picture: ${out#"$PWD"/}/storm.svg"
	exit 0
fi

out=$1 rps_target=$2 p50_target=$3 title=$4
[ -s "$out/rows.tsv" ] || { echo "bench: no rows to draw" >&2; exit 1; }

# Many at once: everything but ping-pong and Redis's own PING; one at a
# time: the ping-pong rows but Redis's PING.
awk -F'\t' '$2 !~ /ping-pong|PING/' "$out/rows.tsv" >"$out/many.tsv"
awk -F'\t' '$2 ~ /ping-pong/ && $2 !~ /PING/ { sub(/ \(pinned\)/, "", $2); print }' OFS='\t' \
	"$out/rows.tsv" >"$out/one.tsv"

gnuplot <<GP
set terminal svg size 900,600 dynamic font "sans,13" background "white"
$STYLE
set key below center vertical Left reverse

set output "$out/throughput.svg"
set title "Requests per second, many at once (log scale)\n{/*0.8 $title}"
set xlabel "requests per second"
set logscale x
set format x "%.0s%c"
set xrange [1000:*]
set arrow 1 from $rps_target, graph 0 to $rps_target, graph 1 nohead front dt 2 lw 2 lc rgb "#c0392b"
plot "$out/many.tsv" using (\$3):0:(1000):(\$3):(\$0-0.38):(\$0+0.38):ytic(2) \
	with boxxyerror lc rgb "#4a7ab5" title "measured", \
     NaN with lines dt 2 lw 2 lc rgb "#c0392b" \
	title "target for 'helper, pipe, pipelined': at least $rps_target/s"

set output "$out/latency.svg"
set title "Latency, one request at a time (ping-pong)\n{/*0.8 $title}"
set xlabel "microseconds (log scale)"
set format x "%g"
set xrange [1:*]
set arrow 1 from $p50_target, graph 0 to $p50_target, graph 1 nohead front dt 2 lw 2 lc rgb "#c0392b"
plot "$out/one.tsv" using (\$5):0:(1):(\$5):(\$0-0.38):(\$0+0.38):ytic(2) \
	with boxxyerror lc rgb "#b9cde5" title "p99", \
     "$out/one.tsv" using (\$4):0:(1):(\$4):(\$0-0.38):(\$0+0.38) \
	with boxxyerror lc rgb "#4a7ab5" title "p50", \
     NaN with lines dt 2 lw 2 lc rgb "#c0392b" \
	title "target for 'helper, pipe, ping-pong': p50 at most $p50_target us"
GP
echo "pictures: ${out#"$PWD"/}/throughput.svg, ${out#"$PWD"/}/latency.svg"
