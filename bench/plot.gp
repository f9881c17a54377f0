# bench/plot.gp: recall@10 against queries per second, one panel per thread count.
#
#   gnuplot -e "out='x.png'; name='...'; xmin=0.5; n=7; d1='a.dat'; h1='...'; d2='b.dat'; h2='...'" bench/plot.gp
#
# d1 and d2 hold n blocks each (separated by two blank lines, written by bench/report.py),
# one per system and index in the same order, each opening with its quoted title; a block
# with no points for that thread count holds one NaN row so the colours stay aligned.
set terminal pngcairo noenhanced size 1600,700 font ",10"
set output out
set datafile missing "NaN"
set multiplot layout 1,2 title name font ",13"
set logscale y
set xrange [xmin:1.005]
set grid xtics ytics mytics
set xlabel "recall@10"
set ylabel "queries per second (log)"
set key bottom left font ",9" spacing 0.9
set title h1
plot for [i=0:n-1] d1 index i using 1:2 with linespoints linetype 1 + i % 8 \
     dashtype 1 + i / 8 pointtype 1 + i % 13 linewidth 1.5 title columnheader(1)
set title h2
plot for [i=0:n-1] d2 index i using 1:2 with linespoints linetype 1 + i % 8 \
     dashtype 1 + i / 8 pointtype 1 + i % 13 linewidth 1.5 title columnheader(1)
unset multiplot
