#!/usr/bin/env bash
# Container engines for the image tests: install, start a private dockerd, build the images, stop.
#
#   source .ci/engine.sh
#   engine_install        # docker.io, podman, runc, mmdebstrap (apt; quick when present)
#   engine_start          # dockerd with its own socket, data, exec root and pid file; exports DOCKER_HOST
#   engine_images         # base image without a registry, then the project's Dockerfile from a host wheelhouse
#   engine_stop           # stops that dockerd by its pid
#
# Run as root. Nothing here talks to a registry: the base image comes from mmdebstrap, Python
# packages from a wheelhouse that pip fills on the host.

ENGINE_ROOT="${ENGINE_ROOT:-/tmp/shimtask-engine}"
ENGINE_BASE_IMAGE="${ENGINE_BASE_IMAGE:-shimtask-base:bookworm}"
SHIMTASK_TEST_IMAGE="${SHIMTASK_TEST_IMAGE:-shimtask-runtime:test}"
ENGINE_PACKAGES=(docker.io podman runc mmdebstrap)
export SHIMTASK_TEST_IMAGE

engine_log() { echo "[engine] $*" >&2; }

engine_install() {
	local missing=() package
	for package in "${ENGINE_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
	done
	((${#missing[@]})) || return 0
	engine_log "installing ${missing[*]}"
	# No init system here: keep the packages' scripts from starting a default dockerd.
	local policy=/usr/sbin/policy-rc.d added_policy=""
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	[[ -n $added_policy ]] && rm -f "$policy"
	return 0
}

engine_start() {
	mkdir -p "$ENGINE_ROOT"
	engine_podman_conf
	export DOCKER_HOST="unix://$ENGINE_ROOT/docker.sock"
	if docker version >/dev/null 2>&1; then
		engine_log "dockerd already answers on $DOCKER_HOST"
		return 0
	fi
	engine_log "starting dockerd on $DOCKER_HOST"
	engine_unmount
	rm -rf "$ENGINE_ROOT/exec" # runtime state of an engine that is not running any more
	dockerd \
		--host "$DOCKER_HOST" \
		--data-root "$ENGINE_ROOT/data" \
		--exec-root "$ENGINE_ROOT/exec" \
		--pidfile "$ENGINE_ROOT/dockerd.pid" \
		--iptables=false --ip6tables=false --ip-forward=false --bridge=none \
		>"$ENGINE_ROOT/dockerd.log" 2>&1 </dev/null &
	local waited
	for waited in $(seq 1 120); do
		docker version >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	engine_log "dockerd did not answer within 60 s; its log:"
	tail -n 30 "$ENGINE_ROOT/dockerd.log" >&2
	return 1
}

# Podman's defaults for root (nofile 1048576, nproc 4194304) exceed what a sandboxed machine lets runc
# set, and the container then fails to start; give its containers this shell's limits instead.
engine_podman_conf() {
	local nproc
	nproc="$(ulimit -Hu)"
	[[ $nproc == unlimited || $nproc -gt $(cat /proc/sys/kernel/pid_max) ]] && nproc="$(cat /proc/sys/kernel/pid_max)"
	printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
		"$(ulimit -Sn)" "$(ulimit -Hn)" "$nproc" "$nproc" >"$ENGINE_ROOT/containers.conf"
	export CONTAINERS_CONF="$ENGINE_ROOT/containers.conf"
}

engine_stop() {
	local pidfile="$ENGINE_ROOT/dockerd.pid" pid waited
	[[ -f $pidfile ]] || return 0
	pid="$(cat "$pidfile")"
	if kill -0 "$pid" 2>/dev/null; then
		engine_log "stopping dockerd (pid $pid)"
		kill -TERM "$pid"
		for waited in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	fi
	rm -f "$pidfile"
	engine_unmount
}

# Mounts a stopped dockerd leaves under its exec root (its network namespace).
engine_unmount() {
	local mount_point
	awk -v root="$ENGINE_ROOT/exec/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r |
		while read -r mount_point; do umount "$mount_point" 2>/dev/null || true; done
}

# The base image: Debian bookworm (Python 3.11 through apt) straight from the Debian archive.
engine_base_image() {
	docker image inspect "$ENGINE_BASE_IMAGE" >/dev/null 2>&1 && return 0
	engine_log "making $ENGINE_BASE_IMAGE with mmdebstrap"
	mmdebstrap --quiet --variant=minbase bookworm - | docker import - "$ENGINE_BASE_IMAGE" >/dev/null
}

# Wheels for everything the runtime image installs, at the versions this interpreter has.
engine_wheelhouse() {
	local wheelhouse="$1" python="${PYTHON:-python}" constraints
	mkdir -p "$wheelhouse"
	rm -f "$wheelhouse"/jupyter_shimtask-*.whl # same version number, new code
	constraints="$(mktemp)"
	"$python" -m pip freeze --exclude-editable | grep -v ' @ ' >"$constraints"
	engine_log "filling $wheelhouse (pip's log: $ENGINE_ROOT/pip.log)"
	if ! "$python" -m pip wheel --quiet --wheel-dir "$wheelhouse" --constraint "$constraints" \
		"flytekit>=1.16,<1.17" pandas pyarrow >"$ENGINE_ROOT/pip.log" 2>&1 ||
		! "$python" -m pip wheel --quiet --no-deps --wheel-dir "$wheelhouse" . >>"$ENGINE_ROOT/pip.log" 2>&1; then
		tail -n 30 "$ENGINE_ROOT/pip.log" >&2
		rm -f "$constraints"
		return 1
	fi
	rm -f "$constraints"
}

# The project's Dockerfile, built offline; then the same image handed to Podman.
engine_images() {
	local image_id
	engine_base_image
	engine_wheelhouse wheelhouse
	# notebooks/03 builds the Dockerfile too: the same base and wheelhouse, so it needs no registry
	export SHIMTASK_BASE_IMAGE="$ENGINE_BASE_IMAGE" SHIMTASK_WHEELHOUSE=wheelhouse
	docker image prune --force >/dev/null # earlier builds' dangling layers; the cache of the last build stays
	engine_log "building $SHIMTASK_TEST_IMAGE from the Dockerfile"
	if ! DOCKER_BUILDKIT=0 docker build --network host \
		--build-arg BASE_IMAGE="$ENGINE_BASE_IMAGE" \
		--build-arg WHEELHOUSE=wheelhouse \
		--tag "$SHIMTASK_TEST_IMAGE" . >"$ENGINE_ROOT/build.log" 2>&1; then
		tail -n 40 "$ENGINE_ROOT/build.log" >&2
		return 1
	fi
	if command -v podman >/dev/null; then
		image_id="$(docker image inspect --format '{{.Id}}' "$SHIMTASK_TEST_IMAGE")"
		if [[ "$(podman image inspect --format '{{.Id}}' "$SHIMTASK_TEST_IMAGE" 2>/dev/null)" != "${image_id#sha256:}" ]]; then
			engine_log "copying $SHIMTASK_TEST_IMAGE to podman"
			docker save "$SHIMTASK_TEST_IMAGE" | podman load --quiet >/dev/null
		fi
	fi
}
