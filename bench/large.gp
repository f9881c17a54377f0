# bench/large.gp: a cost against rows, log-log, one line per column of a data file
# (bench/large_report.py writes it: a header of quoted titles, then rows and one value per
# column, NaN where none was measured).
#
#   gnuplot -e "out='x.png'; dat='x.dat'; n=4; ylab='...'; name='...'" bench/large.gp
set terminal pngcairo noenhanced size 1000,700 font ",10"
set output out
set datafile missing "NaN"
set logscale xy
set grid xtics ytics mytics
set title name font ",13"
set xlabel "rows (log)"
set ylabel ylab
set key top left
plot for [i=2:n+1] dat using 1:i with linespoints linewidth 1.6 pointsize 1.2 title columnheader(i)
