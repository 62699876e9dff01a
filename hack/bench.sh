#!/usr/bin/env bash
# make bench: measure airlock verify and import on a 1 GiB+ workload in one
# run, beside the yardsticks the issues name, and print ratios. The machine
# is shared and noisy: every figure is the best of ROUNDS, and peers run
# interleaved with airlock so they see the same conditions.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools:$PATH" GOTOOLCHAIN=local
ROUNDS=${ROUNDS:-3}
IMAGES=${IMAGES:-4} LAYERS=${LAYERS:-4} SIZE_MIB=${SIZE_MIB:-66}

work=$(mktemp -d /tmp/airlock-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_registry() { # dir -> prints host:port
	local dir=$1 p; p=$(port)
	mkdir -p "$dir"
	cat >"$dir/config.yml" <<CFG
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$p}
CFG
	registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$p/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
	echo "127.0.0.1:$p"
}
stop_registries_after() { :; }

go build -o "$work/airlock" ./cmd/airlock
go build -o "$work/hashblobs" ./hack/hashblobs
go build -o "$work/benchdata" ./hack/benchdata

echo "== workload: $IMAGES images x $LAYERS layers x $SIZE_MIB MiB, signed with cosign (legacy and bundle format)"
src=$(start_registry "$work/src")
mapfile -t refs < <("$work/benchdata" -registry "$src" -images "$IMAGES" -layers "$LAYERS" -size "$SIZE_MIB")
(cd "$work" && COSIGN_PASSWORD= cosign generate-key-pair >/dev/null 2>&1)
for r in "${refs[@]}"; do
	d=$(crane digest --insecure "$r")
	for fmt in "" "--new-bundle-format"; do
		COSIGN_PASSWORD= cosign sign $fmt --key "$work/cosign.key" --tlog-upload=false -y --allow-insecure-registry --allow-http-registry "${r%:*}@$d" >/dev/null 2>&1
	done
done
"$work/airlock" export --no-tuf --insecure-registry "$src" -o "$work/bundle.tar" "${refs[@]}" >/dev/null
mkdir "$work/layout" && tar -xf "$work/bundle.tar" -C "$work/layout"
bytes=$(stat -c %s "$work/bundle.tar")
printf 'bundle: %s bytes (%.2f GiB)\n' "$bytes" "$(echo "$bytes/1073741824" | bc -l)"
cat "$work/bundle.tar" "$work"/layout/blobs/sha256/* >/dev/null   # warm the page cache for everyone

best() { sort -g | head -1; }
timed() { # label cmd... -> "seconds maxrss_kib" on fd 3
	/usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>&1 || { echo "FAILED: $*" >&2; cat "$work/out" >&2; exit 1; }
	cat "$work/time"
}

echo
echo "== verify (offline, every blob hashed)   best of $ROUNDS"
hv=() av=() ar=()
for i in $(seq "$ROUNDS"); do
	t=$(timed "$work/hashblobs" "$work/layout"); hv+=("${t% *}")
	t=$(timed "$work/airlock" verify --trust-dir "$work/trust" --key "$work/cosign.pub" "$work/bundle.tar"); av+=("${t% *}"); ar+=("${t#* }")
done
h=$(printf '%s\n' "${hv[@]}" | best); a=$(printf '%s\n' "${av[@]}" | best); rss=$(printf '%s\n' "${ar[@]}" | sort -g | tail -1)
printf '  plain Go hashing, all cores  %6.2fs  %7.0f MB/s\n' "$h" "$(echo "$bytes/$h/1000000" | bc -l)"
printf '  airlock verify               %6.2fs  %7.0f MB/s  peak RSS %d MiB\n' "$a" "$(echo "$bytes/$a/1000000" | bc -l)" "$((rss / 1024))"
printf '  ratio airlock/plain          %6.0f%%  (target >= 80%%, RSS < 64 MiB)\n' "$(echo "100*$h/$a" | bc -l)"

echo
echo "== import into a loopback distribution registry   best of $ROUNDS"
ai=() air=() ci=() ri=()
for i in $(seq "$ROUNDS"); do
	dst=$(start_registry "$work/dst-a$i")
	t=$(timed "$work/airlock" import --trust-dir "$work/trust" --key "$work/cosign.pub" --insecure-registry "$dst" --to "$dst/mirror" "$work/bundle.tar"); ai+=("${t% *}"); air+=("${t#* }")
	dst=$(start_registry "$work/dst-c$i")
	t=$(timed crane push --insecure --index "$work/layout" "$dst/crane/all:v1"); ci+=("${t% *}")
	if command -v regctl >/dev/null; then
		dst=$(start_registry "$work/dst-r$i")
		regctl registry set --tls disabled "$dst" >/dev/null 2>&1
		# regctl imports one image per call: import each, sum the times.
		sum=0
		for n in "${!refs[@]}"; do
			t=$(timed regctl image import "$dst/regctl/app$n:v1" "$work/bundle.tar" --name "${refs[$n]}")
			sum=$(echo "$sum + ${t% *}" | bc -l)
		done
		ri+=("$sum")
	fi
done
a=$(printf '%s\n' "${ai[@]}" | best); c=$(printf '%s\n' "${ci[@]}" | best); rss=$(printf '%s\n' "${air[@]}" | sort -g | tail -1)
printf '  crane push (drops signatures)   %6.2fs  %7.0f MB/s\n' "$c" "$(echo "$bytes/$c/1000000" | bc -l)"
if [ ${#ri[@]} -gt 0 ]; then
	r=$(printf '%s\n' "${ri[@]}" | best)
	printf '  regctl image import             %6.2fs  %7.0f MB/s\n' "$r" "$(echo "$bytes/$r/1000000" | bc -l)"
fi
printf '  airlock import (verify + push)  %6.2fs  %7.0f MB/s  peak RSS %d MiB\n' "$a" "$(echo "$bytes/$a/1000000" | bc -l)" "$((rss / 1024))"
printf '  ratio airlock/crane             %6.0f%%  (target >= 90%%, RSS < 64 MiB)\n' "$(echo "100*$c/$a" | bc -l)"

echo
echo "== weekly sync: full export, receipt, one image's top layer changes, delta export   best of $ROUNDS"
# Throughput of the transfer formats beside a plain export of the same set.
SPLIT=${SPLIT:-$(( (bytes / 8) + 4096 ))}   # about 8 data parts
pe=() se=() vr=() vp=()
for i in $(seq "$ROUNDS"); do
	rm -f "$work/plain.tar" "$work"/split.tar.*
	t=$(timed "$work/airlock" export --no-tuf --insecure-registry "$src" -o "$work/plain.tar" "${refs[@]}"); pe+=("${t% *}")
	t=$(timed env COSIGN_PASSWORD= "$work/airlock" export --no-tuf --insecure-registry "$src" -o "$work/split.tar" --split-size "$SPLIT" --parity 2 --sign-key "$work/cosign.key" "${refs[@]}"); se+=("${t% *}")
	t=$(timed "$work/airlock" verify --trust-dir "$work/trust" --key "$work/cosign.pub" "$work/split.tar"); vp+=("${t% *}")
	parts=$(ls "$work"/split.tar.[0-9]* | wc -l)
	rm "$work/split.tar.001"   # one part lost in transit: rebuilt from parity
	t=$(timed "$work/airlock" verify --trust-dir "$work/trust" --key "$work/cosign.pub" "$work/split.tar"); vr+=("${t% *}")
	grep -q "REPAIRED from parity: split.tar.001" "$work/out" || { echo "FAILED: no repair reported" >&2; cat "$work/out" >&2; exit 1; }
done
pe=$(printf '%s\n' "${pe[@]}" | best); se=$(printf '%s\n' "${se[@]}" | best)
vp=$(printf '%s\n' "${vp[@]}" | best); vr=$(printf '%s\n' "${vr[@]}" | best)
printf '  plain export                         %6.2fs  %7.0f MB/s\n' "$pe" "$(echo "$bytes/$pe/1000000" | bc -l)"
printf '  split export (%d parts + 2 parity, signed; includes the key'"'"'s scrypt) %6.2fs  %7.0f MB/s\n' "$parts" "$se" "$(echo "$bytes/$se/1000000" | bc -l)"
printf '  verify of the parts, all present     %6.2fs  %7.0f MB/s\n' "$vp" "$(echo "$bytes/$vp/1000000" | bc -l)"
printf '  verify with one part rebuilt         %6.2fs  %7.0f MB/s  (repair costs %.2fs)\n' "$vr" "$(echo "$bytes/$vr/1000000" | bc -l)" "$(echo "$vr - $vp" | bc -l)"

# The receiving side acknowledges week 1 with a receipt.
dst=$(start_registry "$work/dst-weekly")
"$work/airlock" import --trust-dir "$work/trust" --key "$work/cosign.pub" --insecure-registry "$dst" --to "$dst/mirror" --receipt "$work/receipt.json" "$work/bundle.tar" >/dev/null
printf '  receipt for %d images: %s bytes\n' "${#refs[@]}" "$(stat -c %s "$work/receipt.json")"
# Week 2: one image's top layer changes (and is signed again).
changed=$("$work/benchdata" -change-top "${refs[0]}")
d=$(crane digest --insecure "${refs[0]}")
for fmt in "" "--new-bundle-format"; do
	COSIGN_PASSWORD= cosign sign $fmt --key "$work/cosign.key" --tlog-upload=false -y --allow-insecure-registry --allow-http-registry "${refs[0]%:*}@$d" >/dev/null 2>&1
done
"$work/airlock" export --no-tuf --insecure-registry "$src" -o "$work/delta.tar" --since "$work/receipt.json" "${refs[@]}" >/dev/null
delta=$(stat -c %s "$work/delta.tar")
over=$((delta - changed))
printf '  changed bytes (one new top layer)    %12d\n' "$changed"
printf '  delta bundle                         %12d  (%.2f%% of the full bundle)\n' "$delta" "$(echo "100*$delta/$bytes" | bc -l)"
printf '  overhead: manifests, evidence, tar   %12d  (%.2f%% of the changed bytes; target: changed bytes within 1%% plus manifests and evidence)\n' "$over" "$(echo "100*$over/$changed" | bc -l)"
"$work/airlock" import --trust-dir "$work/trust" --key "$work/cosign.pub" --insecure-registry "$dst" --to "$dst/mirror" --force "$work/delta.tar" >/dev/null || { echo "FAILED: delta import" >&2; exit 1; }
echo "  delta imported into the target that holds week 1"
