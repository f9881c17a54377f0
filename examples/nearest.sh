#!/usr/bin/env bash
# examples/nearest.sh COLL QUERIES [K] - vec-query's JSON lines piped into jq: each query's
# nearest row and its distance, then the rows found most often across all the queries.
#
#   examples/nearest.sh coll datasets/tiny/tiny-queries.fvecs 10
#
# vec-query --format jsonl writes one object a query, {"query":N,"ids":[...],"distances":[...]},
# nearest first.
set -euo pipefail   # a failed vec-query fails the script, not only a failed jq
coll=$1 queries=$2 k=${3:-10}

# query<TAB>nearest id<TAB>its distance
vec-query -q --format jsonl -k "$k" "$coll" "$queries" |
    jq -r '[.query, .ids[0], .distances[0]] | @tsv'

# the five ids most often among the k nearest, with their counts
vec-query -q --format jsonl -k "$k" "$coll" "$queries" |
    jq -s -c 'map(.ids[]) | group_by(.) | map({id: .[0], hits: length}) | sort_by(-.hits, .id) | .[:5]'
