# bench/plot.gp: recall@10 against queries per second, one panel per thread count.
#
#   gnuplot -e "out='x.png'; name='...'; xmin=0.8; n=7; d1='a.dat'; h1='...'; d2='b.dat'; h2='...'; \
#               cols='#d62728 ...'; dts='1 2 ...'; pts='7 5 ...'" bench/plot.gp
#
# d1 and d2 hold n blocks each (separated by two blank lines, written by bench/report.py),
# one per system and index in the same order, each opening with its quoted title; a block
# with no points for that thread count holds one NaN row so the styles stay aligned. cols,
# dts and pts give each block's colour, dash type and point type (one word per block).
set terminal pngcairo noenhanced size 1600,950 font ",10"
set output out
set datafile missing "NaN"
set multiplot layout 1,2 title name font ",13"
set logscale y
set xrange [xmin:1.002]
set grid xtics ytics mytics
set xlabel "recall@10"
set ylabel "queries per second (log)"
set key below maxrows 5 font ",9" spacing 0.9 width -2
# the recall levels the summary reports
set arrow 1 from 0.95, graph 0 to 0.95, graph 1 nohead dashtype 3 linecolor rgb "gray40"
set arrow 2 from 0.99, graph 0 to 0.99, graph 1 nohead dashtype 3 linecolor rgb "gray40"
do for [p=1:2] {
    set title (p == 1 ? h1 : h2)
    plot for [i=0:n-1] (p == 1 ? d1 : d2) index i using 1:2 with linespoints \
         linecolor rgb word(cols, i + 1) dashtype int(word(dts, i + 1)) \
         pointtype int(word(pts, i + 1)) pointsize 1.1 linewidth 1.6 title columnheader(1)
}
unset multiplot
