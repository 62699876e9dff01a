#!/usr/bin/env bash
# make bench: measure airlock export, verify and import on a 1 GiB+ workload
# in one run, beside the yardsticks the issues name, and print ratios; a
# weekly sync (split, parity-protected and delta exports); then a signed
# catalogue of many small images at several sizes (time per image,
# slope, peak RSS, against a per-image regctl loop), and import into a
# registry on S3 storage (SeaweedFS) beside the filesystem registry. The
# machine is shared and noisy: every figure is the best of ROUNDS, and peers
# run interleaved with airlock so they see the same conditions.
#
# Sizes can be overridden for a quick run, e.g.
#   ROUNDS=1 IMAGES=2 LAYERS=1 SIZE_MIB=4 CATALOGUE_SIZES="20 50" ./hack/bench.sh
# CATALOGUE_SIZES="" skips the catalogue, S3=0 the S3-backed registry.
# The filesystem registries keep their storage in REGISTRY_ROOT: by default
# a directory on tmpfs (/dev/shm, when it has 12 GiB free), so that what is
# measured is the tools and the registry, not this machine's disk, where
# creating the small files of thousands of uploads made the registry's
# writes 3 to 8 times slower, and noisy. REGISTRY_ROOT=disk keeps them
# beside the bundles.
# The catalogue's per-image regctl loop runs at its best, each image into a
# fresh layout of its own (about 40 ms an image, the same for every call), on
# a sample of REGCTL_SAMPLE images (default 100, spread evenly over each
# size), and its total is extrapolated from that sample. Into one shared
# layout, each call costs more the more images the layout holds (regctl
# v0.11.7: 40 ms into an empty layout, 0.8 s at 100 images, 2.8 s at 200),
# so that loop is measured in full, and only up to REGCTL_FULL images
# (default 100). REGCTL=0 skips both.
# Yardsticks for what a target leaves out: crane's push with the plain hash
# of every blob beside it (an import must hash what it sends), and, a floor,
# the catalogue export's own requests replayed by a client that does nothing
# else (hack/replay), so a missed ratio can be told from airlock's own cost.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools:$PATH" GOTOOLCHAIN=local
ROUNDS=${ROUNDS:-3}
IMAGES=${IMAGES:-4} LAYERS=${LAYERS:-4} SIZE_MIB=${SIZE_MIB:-66}
CATALOGUE_SIZES=${CATALOGUE_SIZES-100 500 2000} CATALOGUE_ROUNDS=${CATALOGUE_ROUNDS:-1}
S3=${S3:-1}
REGCTL=${REGCTL:-1} REGCTL_SAMPLE=${REGCTL_SAMPLE:-100} REGCTL_FULL=${REGCTL_FULL:-100}

work=$(mktemp -d /tmp/airlock-bench.XXXXXX)
REGISTRY_ROOT=${REGISTRY_ROOT:-tmpfs}
if [ "$REGISTRY_ROOT" = tmpfs ] && [ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -ge $((12 << 20)) ] 2>/dev/null; then
	regroot=$(mktemp -d /dev/shm/airlock-bench-registries.XXXXXX)
else
	REGISTRY_ROOT=disk regroot=$work/registries
fi
pids=()
# Servers are started inside $(...), a subshell: their pids go to a file.
# weed leaves /tmp/seaweedfs-*-PORT.sock behind: remove those of our ports.
cleanup() {
	for p in "${pids[@]}" $(cat "$work/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	for p in $(cat "$work/weed-ports" 2>/dev/null); do rm -f /tmp/seaweedfs-*-"$p".sock; done
	rm -rf "$work" "$regroot"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_registry() { # dir -> prints host:port
	local dir=$1 p; p=$(port)
	mkdir -p "$dir"
	cat >"$dir/config.yml" <<CFG
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $regroot/${dir##*/}}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$p}
CFG
	registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	pids+=($!); echo $! >>"$work/pids"; echo $! >"$dir/pid"
	for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$p/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
	echo "127.0.0.1:$p"
}
registry_cpu() { # dir of start_registry -> CPU seconds the registry has used
	awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / hz}' "/proc/$(cat "$1/pid")/stat"
}
drop_registry_data() { rm -rf "$regroot/${1##*/}"; } # dir of start_registry

go build -o "$work/airlock" ./cmd/airlock
go build -o "$work/hashblobs" ./hack/hashblobs
go build -o "$work/benchdata" ./hack/benchdata
go build -o "$work/replay" ./hack/replay

echo "== workload: $IMAGES images x $LAYERS layers x $SIZE_MIB MiB, signed with cosign (legacy and bundle format)"
echo "   registries' storage: $REGISTRY_ROOT ($regroot)"
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

# /usr/bin/time has 10 ms resolution: floor at that so a tiny run never divides by zero.
best() { sort -g | head -1 | awk '{print ($1 < 0.01 ? 0.01 : $1)}'; }
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
ai=() air=() ci=() ri=() hi=()
for i in $(seq "$ROUNDS"); do
	dst=$(start_registry "$work/dst-a$i")
	t=$(timed "$work/airlock" import --trust-dir "$work/trust" --key "$work/cosign.pub" --insecure-registry "$dst" --to "$dst/mirror" "$work/bundle.tar"); ai+=("${t% *}"); air+=("${t#* }")
	dst=$(start_registry "$work/dst-c$i")
	t=$(timed crane push --insecure --index "$work/layout" "$dst/crane/all:v1"); ci+=("${t% *}")
	# crane's push with the plain hash of every blob running beside it: what
	# a verifying import adds to a plain push, on the same 2 cores.
	dst=$(start_registry "$work/dst-h$i")
	t0=$(date +%s.%N)
	crane push --insecure --index "$work/layout" "$dst/crane/all:v1" >"$work/out" 2>&1 &
	push_pid=$!
	"$work/hashblobs" "$work/layout" >/dev/null
	wait "$push_pid" || { echo "FAILED: crane push beside hashblobs" >&2; cat "$work/out" >&2; exit 1; }
	hi+=("$(echo "$(date +%s.%N) - $t0" | bc -l)")
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
	for r in a c h r; do drop_registry_data "$work/dst-$r$i"; done
done
a=$(printf '%s\n' "${ai[@]}" | best); c=$(printf '%s\n' "${ci[@]}" | best); rss=$(printf '%s\n' "${air[@]}" | sort -g | tail -1)
printf '  crane push (drops signatures)   %6.2fs  %7.0f MB/s\n' "$c" "$(echo "$bytes/$c/1000000" | bc -l)"
if [ ${#ri[@]} -gt 0 ]; then
	r=$(printf '%s\n' "${ri[@]}" | best)
	printf '  regctl image import             %6.2fs  %7.0f MB/s\n' "$r" "$(echo "$bytes/$r/1000000" | bc -l)"
fi
printf '  airlock import (verify + push)  %6.2fs  %7.0f MB/s  peak RSS %d MiB\n' "$a" "$(echo "$bytes/$a/1000000" | bc -l)" "$((rss / 1024))"
hfloor=$(printf '%s\n' "${hi[@]}" | best)
printf '  crane push + hashing every blob beside it    %6.2fs  (crane with the work a verifying import adds)\n' "$hfloor"
printf '  ratio airlock/crane             %6.0f%%  (target >= 90%%, RSS < 64 MiB)\n' "$(echo "100*$c/$a" | bc -l)"
printf '  ratio (crane + hashing)/crane   %6.0f%%  (crane itself, once it also hashes every byte as an import must)\n' "$(echo "100*$c/$hfloor" | bc -l)"

# The sections below are functions, each self-contained, called further down.

timed_cpu() { # cmd... -> "seconds maxrss_kib cpu_seconds" (user+sys)
	# Wall time from the clock (/usr/bin/time rounds it to 10 ms, a sixth of
	# a 100-image verify); RSS and CPU from /usr/bin/time.
	local t0 t1
	t0=$(date +%s.%N)
	/usr/bin/time -f '%M %U %S' -o "$work/time" "$@" >"$work/out" 2>&1 || { echo "FAILED: $*" >&2; tail -20 "$work/out" >&2; exit 1; }
	t1=$(date +%s.%N)
	awk -v w="$(echo "$t1 - $t0" | bc -l)" '{printf "%.3f %s %.2f\n", w, $1, $2 + $3}' "$work/time"
}
field() { echo "$1" | cut -d' ' -f"$2"; }
ratio() { echo "$1 / $2" | bc -l; }

# Export beside crane pull --format oci of the same images into a bare
# directory (crane writes no tar, keeps no signatures and hashes nothing it
# does not have to): wall and CPU ratios. Export makes its bundle durable
# (fsync before the rename) and crane does not, so crane is also timed with
# `sync -f` after it: the same promise that the bytes are on disk.
bench_export() {
	echo
	echo "== export from a loopback distribution registry   best of $ROUNDS"
	local ew=() ec=() er=() cw=() cc=() csw=() t t0
	for i in $(seq "$ROUNDS"); do
		rm -f "$work/export.tar"; sync
		t=$(timed_cpu "$work/airlock" export --no-tuf --insecure-registry "$src" -o "$work/export.tar" "${refs[@]}")
		ew+=("$(field "$t" 1)") er+=("$(field "$t" 2)") ec+=("$(field "$t" 3)")
		rm -rf "$work/crane-pull"; sync
		t0=$(date +%s.%N)
		t=$(timed_cpu crane pull --insecure --format oci "${refs[@]}" "$work/crane-pull")
		cw+=("$(field "$t" 1)") cc+=("$(field "$t" 3)")
		sync -f "$work/crane-pull"
		csw+=("$(echo "$(date +%s.%N) - $t0" | bc -l)")
	done
	local a c acpu ccpu rss
	a=$(printf '%s\n' "${ew[@]}" | best); c=$(printf '%s\n' "${cw[@]}" | best)
	acpu=$(printf '%s\n' "${ec[@]}" | best); ccpu=$(printf '%s\n' "${cc[@]}" | best)
	rss=$(printf '%s\n' "${er[@]}" | sort -g | tail -1)
	printf '  crane pull --format oci (dir, drops signatures)  %6.2fs  CPU %6.2fs  %7.0f MB/s\n' "$c" "$ccpu" "$(echo "$bytes/$c/1000000" | bc -l)"
	printf '  airlock export --no-tuf (hashed tar)             %6.2fs  CPU %6.2fs  %7.0f MB/s  peak RSS %d MiB\n' "$a" "$acpu" "$(echo "$bytes/$a/1000000" | bc -l)" "$((rss / 1024))"
	local cs
	cs=$(printf '%s\n' "${csw[@]}" | best)
	printf '  crane pull, then sync -f (on disk, as export is) %6.2fs\n' "$cs"
	printf '  ratio airlock/crane  wall %.2f  CPU %.2f  (target wall <= 1.00); wall against crane made durable %.2f\n' "$(ratio "$a" "$c")" "$(ratio "$acpu" "$ccpu")" "$(ratio "$a" "$cs")"
}

kib() { echo "$1" | awk '{printf "%.0f KiB", $1 / 1024}'; }
inventory_size() { # bundle.tar -> bytes of the inventory document
	python3 - "$1" <<'PY'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
for m in json.load(t.extractfile("index.json"))["manifests"]:
    if m.get("annotations", {}).get("dev.airlock.role") == "inventory":
        man = json.load(t.extractfile("blobs/sha256/" + m["digest"].split(":")[1]))
        print(sum(l["size"] for l in man["layers"]))
        break
PY
}

# A signed catalogue of many small images (hack/benchdata -catalogue): export,
# verify and import at each of CATALOGUE_SIZES, against a per-image
# `regctl image copy --referrers --digest-tags` loop (see REGCTL above).
bench_catalogue() {
	[ -n "$CATALOGUE_SIZES" ] || return 0
	local sizes=($CATALOGUE_SIZES) max=0 n
	for n in "${sizes[@]}"; do [ "$n" -gt "$max" ] && max=$n; done
	echo
	echo "== catalogue: up to $max small images sharing a 1 MiB base layer, each with a legacy signature,"
	echo "   a Sigstore-bundle signature (referrer) and a legacy attestation, signed in process with a key"
	local csrc t0 t1
	csrc=$(start_registry "$work/cat-src")
	t0=$(date +%s.%N)
	mapfile -t crefs < <("$work/benchdata" -registry "$csrc" -catalogue "$max" -key-out "$work/cat.pub")
	t1=$(date +%s.%N)
	printf '  built %d images in %.0fs\n' "${#crefs[@]}" "$(echo "$t1 - $t0" | bc -l)"
	[ "${#crefs[@]}" -eq "$max" ] || { echo "FAILED: benchdata made ${#crefs[@]} of $max images" >&2; exit 1; }
	[ "$REGCTL" = 1 ] && regctl registry set --tls disabled "$csrc" >/dev/null 2>&1
	echo "  best of $CATALOGUE_ROUNDS; per image = time/N; slope = extra time per extra image since the previous size"
	[ "$REGCTL" = 1 ] && echo "  regctl: at its best (a fresh layout per image) on $REGCTL_SAMPLE images spread over each size (REGCTL_SAMPLE), EXTRAPOLATED (per image x N);" \
		&& echo "  regctl-1: the loop into one shared layout, in full, up to $REGCTL_FULL images (REGCTL_FULL)"
	echo "  CPU per image: airlock's (user + system), and the registry's it read from (export) or wrote to (import)"
	echo "  floor rows: the export's GETs, from the source registry's access log, sent again by hack/replay (16 in flight,"
	echo "  answers read and dropped), then its blob GETs alone: what the registry alone costs, the least any client can take"
	printf '  %6s  %-8s %8s %9s %8s %9s  %s\n' images step wall "per image" slope "peak RSS" "CPU per image: airlock, registry"
	local prev_n=0 prev_e=0 prev_v=0 prev_i=0 first_pe="" last_pe="" last_rss=0 worst_ratio_rx="" worst_ratio_ie=""
	local r1_n=0 r1_total="" r1_last=()
	local summary=() sizes_line=()
	for n in "${sizes[@]}"; do
		printf '%s\n' "${crefs[@]:0:$n}" >"$work/cat-$n.list"
		local ew=() er=() vw=() vr=() iw=() ir=() rw=() t dst sample=() ec=() vc=() ic=() erc=() irc=() c0 off fw=() frc=() bw=() brc=() r1w=()
		# The regctl sample: REGCTL_SAMPLE images spread evenly over the n.
		[ "$REGCTL" = 1 ] && mapfile -t sample < <(printf '%s\n' "${crefs[@]:0:$n}" | awk -v n="$n" -v s="$REGCTL_SAMPLE" \
			's < n { if (int((NR - 1) * s / n) == int(NR * s / n)) next } { print }')
		for i in $(seq "$CATALOGUE_ROUNDS"); do
			rm -f "$work/cat-$n.tar"
			c0=$(registry_cpu "$work/cat-src") off=$(stat -c %s "$work/cat-src/log")
			t=$(timed_cpu "$work/airlock" export --no-tuf --insecure-registry "$csrc" -o "$work/cat-$n.tar" -f "$work/cat-$n.list")
			ew+=("$(field "$t" 1)") er+=("$(field "$t" 2)") ec+=("$(field "$t" 3)") erc+=("$(echo "$(registry_cpu "$work/cat-src") - $c0" | bc -l)")
			# Floors: the export's GETs (from the registry's access log), sent
			# again by a client that does nothing else; then its blob GETs alone.
			tail -c +$((off + 1)) "$work/cat-src/log" >"$work/cat-$n.access"
			c0=$(registry_cpu "$work/cat-src")
			t=$("$work/replay" "http://$csrc" <"$work/cat-$n.access"); fw+=("$(field "$t" 2)")
			frc+=("$(echo "$(registry_cpu "$work/cat-src") - $c0" | bc -l)")
			c0=$(registry_cpu "$work/cat-src")
			t=$("$work/replay" -blobs "http://$csrc" <"$work/cat-$n.access"); bw+=("$(field "$t" 2)")
			brc+=("$(echo "$(registry_cpu "$work/cat-src") - $c0" | bc -l)")
			t=$(timed_cpu "$work/airlock" verify --trust-dir "$work/trust" --key "$work/cat.pub" --report "$work/cat-$n.report.json" "$work/cat-$n.tar")
			vw+=("$(field "$t" 1)") vr+=("$(field "$t" 2)") vc+=("$(field "$t" 3)")
			dst=$(start_registry "$work/cat-dst-$n-$i")
			c0=$(registry_cpu "$work/cat-dst-$n-$i")
			t=$(timed_cpu "$work/airlock" import --trust-dir "$work/trust" --key "$work/cat.pub" --insecure-registry "$dst" --to "$dst/mirror" --receipt "$work/cat-$n.receipt.json" "$work/cat-$n.tar")
			iw+=("$(field "$t" 1)") ir+=("$(field "$t" 2)") ic+=("$(field "$t" 3)") irc+=("$(echo "$(registry_cpu "$work/cat-dst-$n-$i") - $c0" | bc -l)")
			drop_registry_data "$work/cat-dst-$n-$i"
			[ "$REGCTL" = 1 ] || continue
			# regctl copies one image per call. Its best case: each image into
			# a fresh layout of its own, so every call costs the same and the
			# sample's total extrapolates. Into one shared layout (the loop
			# that makes one artifact, as export does) each call costs more
			# the more the layout holds: measured in full, up to REGCTL_FULL.
			local r r2 k=0
			rm -rf "$work/regctl-fresh"
			t0=$(date +%s.%N)
			for r in "${sample[@]}"; do
				r2=${r##*/} k=$((k + 1))
				regctl image copy --referrers --digest-tags "$r" "ocidir://$work/regctl-fresh/$k:${r2%%:*}" >/dev/null 2>"$work/out" || { echo "FAILED: regctl image copy $r" >&2; cat "$work/out" >&2; exit 1; }
			done
			t1=$(date +%s.%N)
			rw+=("$(echo "$t1 - $t0" | bc -l)")
			rm -rf "$work/regctl-fresh"
			[ "$n" -le "$REGCTL_FULL" ] || continue
			rm -rf "$work/regctl-layout"
			t0=$(date +%s.%N)
			local tl=$t0
			for r in "${crefs[@]:0:$n}"; do
				r2=${r##*/} tl=$(date +%s.%N)
				regctl image copy --referrers --digest-tags "$r" "ocidir://$work/regctl-layout:${r2%%:*}" >/dev/null 2>"$work/out" || { echo "FAILED: regctl image copy $r" >&2; cat "$work/out" >&2; exit 1; }
			done
			t1=$(date +%s.%N)
			r1w+=("$(echo "$t1 - $t0" | bc -l)")
			# The last call, into a layout of n-1 images: a later call into a
			# fuller layout costs at least that much.
			r1_n=$n r1_last+=("$(echo "$t1 - $tl" | bc -l)")
			rm -rf "$work/regctl-layout"
		done
		local e v im rx="" r1="" erss vrss irss
		e=$(printf '%s\n' "${ew[@]}" | best); v=$(printf '%s\n' "${vw[@]}" | best); im=$(printf '%s\n' "${iw[@]}" | best)
		# rx: the loop's time for all n images, extrapolated from the sample.
		[ "$REGCTL" = 1 ] && rx=$(echo "$(printf '%s\n' "${rw[@]}" | best) * $n / ${#sample[@]}" | bc -l)
		[ "${#r1w[@]}" -gt 0 ] && r1=$(printf '%s\n' "${r1w[@]}" | best) r1_total=$r1
		erss=$(printf '%s\n' "${er[@]}" | sort -g | tail -1); vrss=$(printf '%s\n' "${vr[@]}" | sort -g | tail -1); irss=$(printf '%s\n' "${ir[@]}" | sort -g | tail -1)
		row() { # step wall rss prev_wall airlock_cpu [registry_cpu]
			local slope="-" cpu
			[ "$prev_n" -gt 0 ] && slope=$(printf '%.1fms' "$(echo "1000*($2 - $4)/($n - $prev_n)" | bc -l)")
			cpu=$(printf '%.1fms' "$(echo "1000*$5/$n" | bc -l)")
			[ -n "${6:-}" ] && cpu+=$(printf ', %.1fms' "$(echo "1000*$6/$n" | bc -l)")
			printf '  %6d  %-8s %7.2fs %7.1fms %8s %6d MiB  %s\n' "$n" "$1" "$2" "$(echo "1000*$2/$n" | bc -l)" "$slope" "$(($3 / 1024))" "$cpu"
		}
		low() { printf '%s\n' "$@" | sort -g | head -1; }
		row export "$e" "$erss" "$prev_e" "$(low "${ec[@]}")" "$(low "${erc[@]}")"
		row verify "$v" "$vrss" "$prev_v" "$(low "${vc[@]}")"
		row import "$im" "$irss" "$prev_i" "$(low "${ic[@]}")" "$(low "${irc[@]}")"
		local fl bl
		fl=$(printf '%s\n' "${fw[@]}" | best); bl=$(printf '%s\n' "${bw[@]}" | best)
		floor_row() { # step wall registry_cpu what
			printf '  %6d  %-8s %7.2fs %7.1fms %8s %9s  -, %.1fms  %s\n' "$n" "$1" "$2" "$(echo "1000*$2/$n" | bc -l)" - - "$(echo "1000*$3/$n" | bc -l)" "$4"
		}
		floor_row floor "$fl" "$(low "${frc[@]}")" "the export's GETs sent again by a client that does nothing else"
		floor_row blobs "$bl" "$(low "${brc[@]}")" "its blob GETs alone (no client can fetch less)"
		if [ -z "$rx" ]; then
			printf '  %6d  %-8s %8s %9s   regctl loop skipped (REGCTL=0)\n' "$n" regctl - -
			summary+=("$(printf '  %6d images: import/export %.2f (target <= 2.00); regctl loop skipped (REGCTL=0)' "$n" "$(ratio "$im" "$e")")")
		else
			local est="measured on all $n"
			[ "${#sample[@]}" -lt "$n" ] && est="EXTRAPOLATED from a sample of ${#sample[@]}"
			printf '  %6d  %-8s %7.2fs %7.1fms   regctl image copy --referrers --digest-tags, a fresh layout per image (its best case); %s\n' "$n" regctl "$rx" "$(echo "1000*$rx/$n" | bc -l)" "$est"
			local one="loop into one layout not run (REGCTL_FULL=$REGCTL_FULL)" lb
			if [ -n "$r1" ]; then
				printf '  %6d  %-8s %7.2fs %7.1fms   the same loop into one shared layout, every image, measured in full\n' "$n" regctl-1 "$r1" "$(echo "1000*$r1/$n" | bc -l)"
				one=$(printf '%.1fx faster than the loop into one layout' "$(ratio "$r1" "$e")")
			elif [ -n "$r1_total" ]; then
				# Beyond REGCTL_FULL: the measured loop over the first r1_n images,
				# then every later call at least as slow as the last one measured.
				lb=$(echo "$r1_total + ($n - $r1_n) * $(printf '%s\n' "${r1_last[@]}" | best)" | bc -l)
				printf '  %6d  %-8s %6.1fs+ %6.0fms+  the same loop into one shared layout: LOWER BOUND (the first %d measured, each later call as slow as the %dth)\n' \
					"$n" regctl-1 "$lb" "$(echo "1000*$lb/$n" | bc -l)" "$r1_n" "$r1_n"
				one=$(printf 'at least %.0fx faster than the loop into one layout (LOWER BOUND)' "$(ratio "$lb" "$e")")
			fi
			summary+=("$(printf '  %6d images: export %.1fx faster than the regctl loop at its best (target >= 20x), %s; import/export %.2f (target <= 2.00)' \
				"$n" "$(ratio "$rx" "$e")" "$one" "$(ratio "$im" "$e")")")
			summary+=("$(printf '  %6d images: the most any client could reach against the regctl loop at its best here: %.1fx making the export'"'"'s requests, %.1fx fetching only its blobs' \
				"$n" "$(ratio "$rx" "$fl")" "$(ratio "$rx" "$bl")")")
		fi
		sizes_line+=("$(printf '  %6d images: bundle %s, inventory %s, report %s, receipt %s' "$n" "$(kib "$(stat -c %s "$work/cat-$n.tar")")" \
			"$(kib "$(inventory_size "$work/cat-$n.tar")")" "$(kib "$(stat -c %s "$work/cat-$n.report.json")")" "$(kib "$(stat -c %s "$work/cat-$n.receipt.json")")")")
		[ -z "$first_pe" ] && first_pe="$(echo "$e/$n" | bc -l) $(echo "$v/$n" | bc -l) $(echo "$im/$n" | bc -l)" first_n=$n
		last_pe="$(echo "$e/$n" | bc -l) $(echo "$v/$n" | bc -l) $(echo "$im/$n" | bc -l)" last_n=$n
		last_rss=$erss; [ "$vrss" -gt "$last_rss" ] && last_rss=$vrss; [ "$irss" -gt "$last_rss" ] && last_rss=$irss
		prev_n=$n prev_e=$e prev_v=$v prev_i=$im
		rm -f "$work/cat-$n.tar" "$work/cat-$n.report.json" "$work/cat-$n.receipt.json" "$work/cat-$n.access"
	done
	printf '%s\n' "${summary[@]}" "${sizes_line[@]}"
	local k step
	for k in 1 2 3; do
		step=$(echo "export verify import" | cut -d' ' -f$k)
		printf '  %-6s time per image at %d vs %d: %.2fx  (target <= 1.00: no worse at the larger size)\n' "$step" "$last_n" "$first_n" \
			"$(ratio "$(field "$last_pe" $k)" "$(field "$first_pe" $k)")"
	done
	printf '  peak RSS at %d images: %d MiB  (target < 128 MiB)\n' "$last_n" "$((last_rss / 1024))"
}

# A registry on S3 storage: distribution with its s3 driver on SeaweedFS
# (`weed server -s3`, all on loopback), as users build one when one host's
# disk is not enough.
start_s3() { # dir -> prints the S3 endpoint URL
	local dir=$1 s3p mp vp fp mgp fgp vgp sgp
	s3p=$(port) mp=$(port) vp=$(port) fp=$(port) mgp=$(port) fgp=$(port) vgp=$(port) sgp=$(port)
	echo "$s3p $mp $vp $fp $mgp $fgp $vgp $sgp" >>"$work/weed-ports"
	mkdir -p "$dir/data"
	cat >"$dir/s3.json" <<JSON
{"identities":[{"name":"bench","credentials":[{"accessKey":"airlockbench","secretKey":"airlockbenchsecret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
	(cd "$dir" && exec weed -logdir="$dir" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" -master.port="$mp" -master.port.grpc="$mgp" \
		-volume.port="$vp" -volume.port.grpc="$vgp" -filer.port="$fp" -filer.port.grpc="$fgp" \
		-s3 -s3.port="$s3p" -s3.port.grpc="$sgp" -s3.port.iceberg=0 -s3.config="$dir/s3.json" -master.volumeSizeLimitMB=1024 -volume.max=0 -master.telemetry=false >"$dir/log" 2>&1) &
	pids+=($!); echo $! >>"$work/pids"
	for _ in $(seq 300); do curl -fsS -o /dev/null "http://127.0.0.1:$fp/" 2>/dev/null && curl -sS -o /dev/null "http://127.0.0.1:$s3p/" 2>/dev/null && break; sleep 0.2; done
	for _ in $(seq 50); do
		# host:port.grpcport: the gRPC ports are not port+10000 here.
		echo "s3.bucket.create -name registry" | weed -logdir="$dir" shell -master="127.0.0.1:$mp.$mgp" -filer="127.0.0.1:$fp.$fgp" >"$dir/shell.log" 2>&1 && break
		sleep 0.5
	done
	echo "http://127.0.0.1:$s3p"
}
start_s3_registry() { # dir s3-endpoint root -> prints host:port
	local dir=$1 ep=$2 root=$3 p; p=$(port)
	mkdir -p "$dir"
	cat >"$dir/config.yml" <<CFG
version: 0.1
log: {level: error}
storage:
  s3: {accesskey: airlockbench, secretkey: airlockbenchsecret, region: us-east-1, regionendpoint: "$ep", bucket: registry, forcepathstyle: true, secure: false, v4auth: true, rootdirectory: "$root"}
  redirect: {disable: true}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$p, secret: airlock-bench-shared-secret}
CFG
	registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	pids+=($!); echo $! >>"$work/pids"; echo $! >"$dir/pid"
	for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$p/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
	echo "127.0.0.1:$p"
}

bench_s3() {
	[ "$S3" = 1 ] || return 0
	echo
	if ! command -v weed >/dev/null; then
		echo "== import into an S3-backed registry: SKIPPED, no weed in tools/ (make weed builds it)"
		return 0
	fi
	echo "== import into distribution on S3 storage (SeaweedFS) beside the filesystem registry   best of $ROUNDS"
	local ep fw=() fr=() sw=() sr=() cf=() cs=() t dst
	ep=$(start_s3 "$work/s3")
	# SeaweedFS grows its volumes on the first writes: warm it up first, so
	# that whichever runs first does not pay for it.
	dst=$(start_s3_registry "$work/s3reg-warm" "$ep" "/warmup")
	timed_cpu crane push --insecure --index "$work/layout" "$dst/warm/all:v1" >/dev/null
	for i in $(seq "$ROUNDS"); do
		dst=$(start_registry "$work/s3cmp-fs-$i")
		t=$(timed_cpu "$work/airlock" import --trust-dir "$work/trust" --key "$work/cosign.pub" --insecure-registry "$dst" --to "$dst/mirror" "$work/bundle.tar")
		fw+=("$(field "$t" 1)") fr+=("$(field "$t" 2)")
		drop_registry_data "$work/s3cmp-fs-$i"
		dst=$(start_registry "$work/s3cmp-fsc-$i")
		t=$(timed_cpu crane push --insecure --index "$work/layout" "$dst/crane/all:v1"); cf+=("$(field "$t" 1)")
		drop_registry_data "$work/s3cmp-fsc-$i"
		# Every run gets storage of its own (a root directory in the bucket).
		dst=$(start_s3_registry "$work/s3reg-a$i" "$ep" "/airlock$i")
		t=$(timed_cpu "$work/airlock" import --trust-dir "$work/trust" --key "$work/cosign.pub" --insecure-registry "$dst" --to "$dst/mirror" --receipt "$work/s3-receipt.json" "$work/bundle.tar")
		sw+=("$(field "$t" 1)") sr+=("$(field "$t" 2)")
		# What the receipt says landed is what the S3-backed registry serves.
		local served
		served=$(python3 -c 'import json,sys; [print(i["reference"], i["digest"]) for i in json.load(open(sys.argv[1]))["images"]]' "$work/s3-receipt.json" |
			while read -r ref want; do
				got=$(crane digest --insecure "$ref") && [ "$got" = "$want" ] || { echo "FAILED: $ref on S3 is ${got:-missing}, the receipt says $want" >&2; exit 1; }
				echo "$ref"
			done | wc -l)
		[ "$served" -eq "${#refs[@]}" ] || { echo "FAILED: the S3-backed registry serves $served of ${#refs[@]} images" >&2; exit 1; }
		dst=$(start_s3_registry "$work/s3reg-c$i" "$ep" "/crane$i")
		t=$(timed_cpu crane push --insecure --index "$work/layout" "$dst/crane/all:v1"); cs+=("$(field "$t" 1)")
	done
	local f s c1 c2
	f=$(printf '%s\n' "${fw[@]}" | best); s=$(printf '%s\n' "${sw[@]}" | best)
	c1=$(printf '%s\n' "${cf[@]}" | best); c2=$(printf '%s\n' "${cs[@]}" | best)
	printf '  %-28s %-16s %7s %9s %9s\n' registry step wall MB/s "peak RSS"
	printf '  %-28s %-16s %6.2fs %9.0f %6d MiB\n' filesystem "airlock import" "$f" "$(echo "$bytes/$f/1000000" | bc -l)" "$(($(printf '%s\n' "${fr[@]}" | sort -g | tail -1) / 1024))"
	printf '  %-28s %-16s %6.2fs %9.0f\n' filesystem "crane push" "$c1" "$(echo "$bytes/$c1/1000000" | bc -l)"
	printf '  %-28s %-16s %6.2fs %9.0f %6d MiB\n' "s3 (SeaweedFS)" "airlock import" "$s" "$(echo "$bytes/$s/1000000" | bc -l)" "$(($(printf '%s\n' "${sr[@]}" | sort -g | tail -1) / 1024))"
	printf '  %-28s %-16s %6.2fs %9.0f\n' "s3 (SeaweedFS)" "crane push" "$c2" "$(echo "$bytes/$c2/1000000" | bc -l)"
	printf '  ratio airlock/crane  filesystem %.2f  s3 %.2f  (target <= 1.11)\n' "$(ratio "$f" "$c1")" "$(ratio "$s" "$c2")"
}

# Export is measured on the workload as pushed, before the weekly sync changes it.
bench_export

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

bench_catalogue
bench_s3
