# manifest_edit.bash - helpers that change a collection as a hand edit, an
# older tool or a killed writer would leave it.  Loaded after test_helper.

# current_manifest COLL - the path of COLL's current manifest.
current_manifest() {
    printf '%s/%s\n' "$1" "$(cat "$1/CURRENT")"
}

# manifest_field COLL WORD - the value of the line "WORD VALUE" of the current manifest.
manifest_field() {
    awk -v w="$2" '$1 == w {print $2}' "$(current_manifest "$1")"
}

# manifest_edit COLL SED-SCRIPT - edits COLL's current manifest in place with sed and
# writes a new crc32 line, so the manifest passes its checksum with the edited values.
manifest_edit() {
    local m
    m=$(current_manifest "$1")
    sed -e '/^crc32 /d' -e "$2" "$m" >"$m.edit"
    "$PY" -c 'import sys, zlib; d = open(sys.argv[1], "rb").read(); sys.stdout.write("crc32 %08x\n" % zlib.crc32(d))' \
        "$m.edit" >>"$m.edit"
    mv "$m.edit" "$m"
}

# manifest_set_setting COLL KEY VALUE - the setting line KEY holds VALUE (added if absent).
manifest_set_setting() {
    if grep -q "^setting $2 " "$(current_manifest "$1")"; then
        manifest_edit "$1" "s/^setting $2 .*/setting $2 $3/"
    else
        manifest_edit "$1" "/^next-maint-file /a setting $2 $3"
    fi
}

# next_file_name COLL KIND - the name the next g-, t- or s- file of COLL gets.
next_file_name() {
    local counter=next-ingest-file ext
    case $2 in
    g) ext=log ;;
    t) ext=tomb ;;
    s) ext=vseg counter=next-maint-file ;;
    esac
    printf '%s-%08d.%s\n' "$2" "$(manifest_field "$1" "$counter")" "$ext"
}

# plant_orphan COLL NAME - the file a writer killed after creating NAME and before its commit
# leaves: a log header (copied from a log of COLL) and a torn record.
plant_orphan() {
    local log
    log=$(ls "$1"/g-*.log 2>/dev/null | head -n 1)
    { [ -z "$log" ] || head -c 32 "$log"; printf 'torn record bytes'; } >"$1/$2"
}
