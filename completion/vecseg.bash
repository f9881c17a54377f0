# completion/vecseg.bash - bash completion for the vecseg tools (vec-ingest, vec-seal, vec-query,
# vec-query-mpi, vec-shard, vec-balance, vec-inspect, vec-export).
#
#   source completion/vecseg.bash        # or: make install puts it where bash-completion looks
#
# The options come from each tool's own --help, read once per shell and tool, so completion
# offers what the installed tool takes and cannot drift from it; tests/completion.bats checks
# that every long option of every --help is offered.  The values of a few options are listed
# here, and the same test runs each through its tool.  Other words complete as file names
# (collections are directories).

declare -gA _vecseg_help

# _vecseg_load TOOL: "SHORT LONG ARG" lines, one per option of TOOL's --help ("-" for none)
_vecseg_load() {
    [[ -n ${_vecseg_help[$1]+x} ]] && return
    _vecseg_help[$1]=$("$1" --help 2>/dev/null |
        sed -nE -e 's/^ +(-([A-Za-z0-9]), )?(--[a-z][a-z0-9-]*)( ([A-Z][^ ]*))?( .*)?$/-\2 \3 \5/p' \
                -e 's/^ +(-[A-Za-z0-9])( ([A-Z][^ ]*))?( .*)?$/\1 - \3/p' |
        awk '{ print $1, $2, ($3 == "" ? "-" : $3) }')
}

# _vecseg_values TOOL OPTION: the values OPTION takes, when they are a fixed list
_vecseg_values() {
    case $1:$2 in
        vec-ingest:-F | vec-ingest:--input-format | vec-ingest:-f | vec-ingest:--format | \
        vec-query*:-F | vec-query*:--input-format)
            echo auto fvecs bvecs ivecs npy hdf5 h5 csv tsv txt jsonl raw ;;
        vec-query*:--format | vec-shard:--format) echo tsv jsonl ;;
        vec-export:-f | vec-export:--format) echo fvecs npy hdf5 csv tsv jsonl ;;
        vec-ingest:-m | vec-ingest:--metric) echo l2 ip cosine ;;
        vec-seal:--index) echo flat hnsw ivf_flat ivf_pq ivf_sq8 auto ;;
        *) return 1 ;;
    esac
}

_vecseg() {
    local tool=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev= arg= vals line
    local name=${tool##*/}
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()
    _vecseg_load "$tool"
    # --option=value: complete the value after the '='
    if [[ $cur == --*=* ]]; then
        prev=${cur%%=*}
        cur=${cur#*=}
    fi
    # the argument of the option before, if it takes one
    if [[ $prev == -* ]]; then
        while read -r s l a; do
            [[ $prev != - && ($prev == "$s" || $prev == "$l") ]] && arg=$a && prev=$l
        done <<<"${_vecseg_help[$tool]}"
    fi
    if [[ -n $arg && $arg != - ]]; then
        if vals=$(_vecseg_values "$name" "$prev"); then
            mapfile -t COMPREPLY < <(compgen -W "$vals" -- "$cur")
        elif [[ $arg == FILE* || $arg == SPEC || $arg == PATH || $arg == DIR ]]; then
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
        return 0
    fi
    if [[ $cur == -* ]]; then
        local opts=
        while read -r s l a; do
            [[ $l != - ]] && opts+=" $l"
            [[ $s != - ]] && opts+=" $s"
        done <<<"${_vecseg_help[$tool]}"
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        return 0
    fi
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

complete -F _vecseg vec-ingest vec-seal vec-query vec-query-mpi vec-shard vec-balance vec-inspect vec-export
