# shellcheck shell=bash
# Containers for the system test: systemd-nspawn over a cached image
# (tests/system/image.sh), with nothing of the host changed. Source it; do
# not run it.
#
# Every nspawn runs in a mount namespace of its own with a fresh tmpfs on
# /run (nspawn wants one at /run/systemd/nspawn, and the host's /run need
# not be a tmpfs), without registering with a machined or a system bus
# (--register=no --keep-unit: the host's PID 1 need not be systemd). A booted
# container's root is an overlay over the image, mounted only in that
# namespace: the image is never written, and the overlay's own files are
# removed with the container.
#
# Both releases boot with the unified cgroup hierarchy (cgroup v2), which
# Debian 13's systemd needs and Debian 12's supports, also on a host that
# mounts cgroup v1 (then nspawn gives the container the host's cgroup2
# mount). Each container gets a cgroup of its own in that hierarchy, so
# that containers booted at the same time never share one; it is removed
# at power-off.

CT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# ct_private COMMAND...: run COMMAND in a mount namespace of its own with a
# tmpfs on /run.
ct_private() {
	unshare --mount --propagation private -- /bin/sh -c \
		'mount -t tmpfs -o mode=0755 ct-run /run && exec "$@"' ct-private "$@"
}

# ct_run_once DIR COMMAND...: run COMMAND in DIR (not booted, the host's
# network), and return its status.
ct_run_once() {
	local dir=$1
	shift
	ct_private systemd-nspawn -q --register=no --keep-unit --pipe \
		--resolv-conf=copy-host --timezone=off -E LANG=C.UTF-8 \
		-D "$dir" -- "$@"
}

# ct_cgroup NAME: make a cgroup for a container under this process's own
# in the cgroup2 hierarchy; prints its path.
ct_cgroup() {
	local mnt own
	mnt=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
	[ -n "$mnt" ] || return 1
	own=$(sed -n 's/^0:://p' /proc/self/cgroup)
	case $own in /*) ;; *) own=/ ;; esac
	# (a cgroup outside this process's namespace shows as /..: use the root)
	case $own in */..*) own=/ ;; esac
	own=${own%/}
	mkdir "$mnt$own/$1" && echo "$mnt$own/$1"
}

# ct_cgroup_remove PATH: remove a container's cgroup, deepest first, also
# where nspawn mirrored it in the cgroup v1 "name=systemd" hierarchy.
ct_cgroup_remove() {
	local mnt rel m rc=0
	mnt=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
	rel=${1#"$mnt"}
	for m in $(findmnt -n -t cgroup,cgroup2 -o TARGET); do
		[ -d "$m$rel" ] || continue
		find "$m$rel" -depth -type d -exec rmdir {} + 2>/dev/null
		[ ! -d "$m$rel" ] || rc=1
	done
	return "$rc"
}

# ct_boot NAME IMAGE DIR [NSPAWN OPTIONS...]: boot IMAGE with systemd as
# PID 1 on a private network, its root an overlay whose changes go to DIR.
# Sets CT_NSPAWN (nspawn's PID, on this host) and CT_LEADER (the
# container's PID 1, seen from this host) and returns once the leader is
# there (not yet booted: see ct_booted). The console goes to DIR/console.log.
ct_boot() {
	local name=$1 image=$2 dir=$3
	shift 3
	mkdir -p "$dir/upper" "$dir/work" "$dir/root"
	CT_CGROUP=$(ct_cgroup "pta-$name-$$-$RANDOM") || return 1
	# shellcheck disable=SC2016 # expanded by the inner shell
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 \
	unshare --mount --propagation private -- /bin/sh -c '
		echo $$ >"$3/cgroup.procs" &&
		mount -t tmpfs -o mode=0755 ct-run /run &&
		mount -t overlay ct-root -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/root" &&
		shift 3 && exec systemd-nspawn "$@"' ct-boot "$image" "$dir" "$CT_CGROUP" \
		-q --register=no --keep-unit --boot --private-network \
		--machine="$name" --hostname="$name" --timezone=off \
		--console=read-only -D "$dir/root" "$@" \
		</dev/null >"$dir/console.log" 2>&1 &
	CT_NSPAWN=$!
	ct_find_leader
}

ct_descendants() {
	local child
	for child in $(pgrep -P "$1" 2>/dev/null); do
		echo "$child"
		ct_descendants "$child"
	done
}

# ct_exec COMMAND...: run COMMAND in the booted container (all its
# namespaces), as root, with a clean environment.
ct_exec() {
	nsenter -t "$CT_LEADER" -a -- env -i PATH="$CT_PATH" HOME=/root \
		LANG=C.UTF-8 TERM=dumb "$@"
}

# ct_sh SCRIPT: run a shell script in the booted container.
ct_sh() {
	ct_exec /bin/bash -c "$1"
}

# ct_booted SECONDS: wait until the container's systemd has finished
# booting; prints its state (running, degraded, ...).
ct_booted() {
	local deadline=$((SECONDS + $1)) state
	while :; do
		state=$(ct_exec systemctl is-system-running 2>/dev/null)
		case $state in
		running | degraded | maintenance | stopping)
			echo "$state"
			return 0
			;;
		esac
		if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$CT_NSPAWN" 2>/dev/null; then
			echo "${state:-unknown}"
			return 1
		fi
		sleep 0.2
	done
}

# ct_poweroff SECONDS: shut the container down (nspawn asks its systemd to
# power off), wait for it, and kill it if it does not stop in time. Returns
# non-zero if it had to be killed.
ct_poweroff() {
	local rc=0
	[ -n "${CT_NSPAWN:-}" ] || return 0
	ct_stop "$1" "$CT_NSPAWN" "${CT_CGROUP:-}" || rc=1
	CT_CGROUP=
	CT_NSPAWN=
	CT_LEADER=
	return "$rc"
}

# ct_stop SECONDS NSPAWN [CGROUP]: stop the container nspawn NSPAWN runs
# (SIGTERM to nspawn, which passes on its --kill-signal), kill it if it does
# not stop in time, and remove its cgroup. Returns non-zero if it had to be
# killed.
ct_stop() {
	local deadline=$((SECONDS + $1)) nspawn=$2 cgroup=${3:-} rc=0
	kill -TERM "$nspawn" 2>/dev/null
	while kill -0 "$nspawn" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.1
	done
	if kill -0 "$nspawn" 2>/dev/null; then
		kill -KILL "$nspawn" 2>/dev/null
		rc=1
	fi
	wait "$nspawn" 2>/dev/null
	# The container's cgroups, deepest first, now that nothing runs there.
	if [ -n "$cgroup" ]; then
		ct_cgroup_remove "$cgroup" || rc=1
	fi
	return "$rc"
}

# ct_start NAME IMAGE DIR [NSPAWN OPTIONS...] -- COMMAND...: run COMMAND as
# the container's PID 1 and only process, as a container runtime does: no
# init, no systemd, the host's network (its loopback), the root an overlay
# over IMAGE whose changes go to DIR. Stopping nspawn (ct_stop) sends
# COMMAND SIGTERM, as "docker stop" does. Sets CT_NSPAWN, CT_LEADER (PID 1
# of the container, seen from this host) and CT_CGROUP; returns once the
# leader is there. Its output goes to DIR/console.log.
ct_start() {
	local name=$1 image=$2 dir=$3
	shift 3
	local opts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	mkdir -p "$dir/upper" "$dir/work" "$dir/root"
	CT_CGROUP=$(ct_cgroup "pta-$name-$$-$RANDOM") || return 1
	# shellcheck disable=SC2016 # expanded by the inner shell
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 \
	unshare --mount --propagation private -- /bin/sh -c '
		echo $$ >"$3/cgroup.procs" &&
		mount -t tmpfs -o mode=0755 ct-run /run &&
		mount -t overlay ct-root -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/root" &&
		shift 3 && exec systemd-nspawn "$@"' ct-start "$image" "$dir" "$CT_CGROUP" \
		-q --register=no --keep-unit --kill-signal=SIGTERM \
		--machine="$name" --hostname="$name" --timezone=off \
		--resolv-conf=off --console=pipe -D "$dir/root" "${opts[@]}" \
		-- "$@" </dev/null >"$dir/console.log" 2>&1 &
	CT_NSPAWN=$!
	ct_find_leader
}

# ct_find_leader: wait up to 30 s for the PID 1 of the container that
# $CT_NSPAWN runs; sets CT_LEADER.
ct_find_leader() {
	CT_LEADER=
	local deadline=$((SECONDS + 30)) pid
	while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$CT_NSPAWN" 2>/dev/null; do
		for pid in $(ct_descendants "$CT_NSPAWN"); do
			if grep -qE '^NSpid:[[:space:]]+[0-9]+[[:space:]]+1$' "/proc/$pid/status" 2>/dev/null; then
				CT_LEADER=$pid
				return 0
			fi
		done
		sleep 0.1
	done
	return 1
}
