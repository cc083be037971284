#!/bin/sh
# Hostile categorical CSV: more distinct class names than classes may be,
# a column of unique ids declared categorical, a 100 KB category, NUL bytes
# and carriage returns inside quoted names, an unterminated quote in a
# categorical column, class names that would break CSV or JSON output, an
# empty category.  Each is a located error (or handled) in bounded time and
# memory, from check and run alike.  usage: csv_categories.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

exp() { # NAME CSV-PATH CSV-ARGS
    cat > "$tmp/$1.hp" <<HP
data d { train = csv("$2"$3) }
model m { input features; dense classes, softmax }
experiment e { data = d; model = m; batch = 64; epochs = 1; seed = 1; threads = 1 }
HP
}
both() { # NAME CHECK-STATUS RUN-STATUS TEXT
    bounded 30 4000000 "$HPC" check "$tmp/$1.hp"
    expect "$2" "$4" "$1: check"
    bounded 30 4000000 "$HPC" run "$tmp/$1.hp" --out "$tmp/run-$1" --quiet
    expect "$3" "$4" "$1: run"
}

# 70000 distinct class names: more than 65536 classes, at the line of the 65537th
awk 'BEGIN { print "x,y"; for (i = 0; i < 70000; i++) printf "1,c%d\n", i }' > "$tmp/many.csv"
exp many "$tmp/many.csv" ""
both many 1 3 "many.csv: line 65538, field 2 (column 'y'): more than 65536 distinct class names"

# a column of unique ids declared categorical
awk 'BEGIN { print "id,x,y"; for (i = 0; i < 200000; i++) printf "u%d,1,%d\n", i, i % 2 }' > "$tmp/ids.csv"
exp ids "$tmp/ids.csv" ', categories = ["id"]'
both ids 1 3 "ids.csv: line 1002, field 1 (column 'id'): more than 1000 distinct categories"

# a 100 KB category and a 100 KB class name: fine, shortened in messages
awk 'BEGIN { s = ""; for (i = 0; i < 100000; i++) s = s "z"; print "c,x,y"; print s ",1," s; print "a,2,b" }' > "$tmp/long.csv"
exp long "$tmp/long.csv" ', categories = ["c"]'
bounded 30 4000000 "$HPC" check "$tmp/long.hp"
expect 0 "long.hp: ok" "a 100 KB category"

# a NUL byte and a carriage return inside quoted names: errors at their lines
printf 'c,x,y\nred,1,a\n"r\000d",2,b\n' > "$tmp/nul.csv"
exp nul "$tmp/nul.csv" ', categories = ["c"]'
both nul 1 3 "nul.csv: line 3, field 1"
expect 3 "a NUL byte or carriage return" "nul: message"
printf 'c,x,y\nred,1,a\nblue,2,"b\rc"\n' > "$tmp/cr.csv"
exp cr "$tmp/cr.csv" ', categories = ["c"]'
both cr 1 3 "cr.csv: line 3, field 3"

# an unterminated quote in a categorical column
printf 'c,x,y\nred,1,a\n"blue,2,b\n' > "$tmp/quote.csv"
exp quote "$tmp/quote.csv" ', categories = ["c"]'
both quote 1 3 "quote.csv: line 3, field 1: unterminated quote"

# an empty category
printf 'c,x,y\nred,1,a\n,2,b\n' > "$tmp/empty.csv"
exp empty "$tmp/empty.csv" ', categories = ["c"]'
both empty 1 3 "empty.csv: line 3, field 1 (''): empty field; a category needs a value"

# class names with quotes, commas and backslashes: valid CSV and JSON out of predict
printf 'x,y\n0,"say ""hi"", \\o/"\n1,plain\n0,"say ""hi"", \\o/"\n1,plain\n' > "$tmp/odd.csv"
exp odd "$tmp/odd.csv" ""
bounded 60 4000000 "$HPC" run "$tmp/odd.hp" --out "$tmp/run-odd" --quiet
expect 0 "" "odd names: run"
bounded 30 4000000 "$HPC" predict "$tmp/run-odd" "$tmp/odd.csv" --format json
expect 0 '"label": "say \"hi\", \\o/"' "odd names: JSON escapes"
bounded 30 4000000 "$HPC" predict "$tmp/run-odd" "$tmp/odd.csv"
expect 0 '"say ""hi"", \o/"' "odd names: CSV quotes"

finish "hostile categorical CSV"
