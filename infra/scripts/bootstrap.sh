#!/usr/bin/env bash
# Makes sure pnpm (the version in package.json's "packageManager") is available and the dependencies are installed.
#
#   bash infra/scripts/bootstrap.sh     prints the pnpm command to use on stdout, e.g. "/usr/bin/pnpm"
#   source infra/scripts/bootstrap.sh   same work; leaves the array PNPM (the command) and the function `pnpm_run`
#                                       in the calling script, and puts the pnpm shim's folder on its PATH
#
# pnpm, first that works: pnpm on PATH with the right major version; corepack (enable + install, downloads from the
# npm registry); `npm i -g pnpm@<version>` when root; `npx --yes pnpm@<version>` otherwise.
# Dependencies are installed when node_modules is missing or older than pnpm-lock.yaml or any package.json:
# `pnpm install --frozen-lockfile` when CI=true, `pnpm install` otherwise.
#
# Environment: CI (true: frozen lockfile), BOOTSTRAP_SKIP_INSTALL=1 (only pnpm), BOOTSTRAP_FORCE_INSTALL=1,
#              PNPM_SHIM_DIR (where `corepack enable` puts the pnpm shim; default: next to node).
# Progress goes to stderr, prefixed [bootstrap].

BOOTSTRAP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

bootstrap_log() { printf '[bootstrap] %s\n' "$*" >&2; }

# The pnpm version package.json asks for ("packageManager": "pnpm@10.34.9" or "pnpm@10.34.9+sha512...").
bootstrap_wanted_version() {
  local v
  v=$(sed -n 's/.*"packageManager"[[:space:]]*:[[:space:]]*"pnpm@\([0-9][^"+]*\).*/\1/p' "$BOOTSTRAP_ROOT/package.json")
  printf '%s\n' "${v:-10.34.9}"
}

# Succeeds when the command (with its arguments) runs pnpm of the wanted major version.
bootstrap_pnpm_ok() {
  local version
  version=$(cd "$BOOTSTRAP_ROOT" && COREPACK_ENABLE_DOWNLOAD_PROMPT=0 "$@" --version 2>/dev/null </dev/null | tail -n1) ||
    return 1
  [[ "$version" == "${PNPM_WANTED%%.*}".* ]] || return 1
  PNPM_FOUND_VERSION=$version
}

bootstrap_use_path_pnpm() {
  local p
  hash -r
  p=$(command -v pnpm) || return 1
  bootstrap_pnpm_ok "$p" || return 1
  PNPM=("$p")
}

bootstrap_find_pnpm() {
  PNPM_WANTED=$(bootstrap_wanted_version)
  PNPM=()
  if [ -n "${PNPM_SHIM_DIR:-}" ]; then PATH="$PNPM_SHIM_DIR:$PATH"; fi
  if bootstrap_use_path_pnpm; then return 0; fi

  if command -v corepack >/dev/null 2>&1; then
    bootstrap_log "pnpm ${PNPM_WANTED%%.*}.x is not on PATH: trying corepack (pnpm@$PNPM_WANTED)"
    export COREPACK_ENABLE_DOWNLOAD_PROMPT=0
    local out shim_dir=${PNPM_SHIM_DIR:-}
    # download first, shims after: a pnpm shim that cannot fetch pnpm would stand in the way of `npm i -g pnpm`
    if out=$(corepack install -g "pnpm@$PNPM_WANTED" 2>&1); then
      if [ -z "$shim_dir" ] && ! corepack enable pnpm 2>/dev/null; then
        shim_dir="$HOME/.local/bin" # not allowed to write next to corepack (not root): a folder of our own
        PATH="$shim_dir:$PATH"
      fi
      if [ -n "$shim_dir" ]; then
        mkdir -p "$shim_dir"
        corepack enable --install-directory "$shim_dir" pnpm >&2 || bootstrap_log "corepack enable failed"
      fi
      if bootstrap_use_path_pnpm; then return 0; fi
      if bootstrap_pnpm_ok corepack pnpm; then
        PNPM=("$(command -v corepack)" pnpm)
        return 0
      fi
    else
      # e.g. "No compatible signature found in package metadata": a registry (mirror) that serves no npm signatures,
      # or a corepack older than the registry's signing key. COREPACK_INTEGRITY_KEYS=0 would skip that check;
      # that is the user's choice to make, so here it is npm's turn instead.
      # shellcheck disable=SC2001
      bootstrap_log "corepack could not install pnpm@$PNPM_WANTED: $(sed 's/\x1b\[[0-9;]*m//g' <<<"$out" | grep -m1 -i error || tail -n1 <<<"$out")"
    fi
  fi

  if [ "$(id -u)" = 0 ]; then
    bootstrap_log "installing pnpm@$PNPM_WANTED with npm i -g"
    if npm install -g --no-fund --no-audit "pnpm@$PNPM_WANTED" >&2; then
      local npm_bin
      npm_bin="$(npm prefix -g 2>/dev/null)/bin"
      if bootstrap_use_path_pnpm; then return 0; fi
      if bootstrap_pnpm_ok "$npm_bin/pnpm"; then # npm's bin folder is not on PATH
        PATH="$npm_bin:$PATH"
        PNPM=("$npm_bin/pnpm")
        return 0
      fi
    fi
  fi

  bootstrap_log "falling back to npx --yes pnpm@$PNPM_WANTED"
  if bootstrap_pnpm_ok npx --yes "pnpm@$PNPM_WANTED"; then
    PNPM=("$(command -v npx)" --yes "pnpm@$PNPM_WANTED")
    return 0
  fi
  bootstrap_log "could not get pnpm@$PNPM_WANTED (tried PATH, corepack, npm -g, npx); install it by hand"
  return 1
}

# Succeeds when dependencies must be (re)installed.
bootstrap_needs_install() {
  local stamp="$BOOTSTRAP_ROOT/node_modules/.bootstrap-stamp" f
  [ "${BOOTSTRAP_FORCE_INSTALL:-}" = 1 ] && return 0
  [ -d "$BOOTSTRAP_ROOT/node_modules/.pnpm" ] && [ -f "$stamp" ] || return 0
  for f in "$BOOTSTRAP_ROOT"/{package.json,pnpm-lock.yaml,pnpm-workspace.yaml} \
    "$BOOTSTRAP_ROOT"/{packages,services}/*/package.json "$BOOTSTRAP_ROOT"/loadtest/package.json; do
    [ -f "$f" ] || continue
    if [ "$f" -nt "$stamp" ]; then
      bootstrap_log "${f#"$BOOTSTRAP_ROOT"/} changed since the last install"
      return 0
    fi
    # a workspace package added since (with dependencies of its own, but no node_modules yet)
    if [ "$f" != "$BOOTSTRAP_ROOT/package.json" ] && [[ "$f" == */package.json ]] &&
      grep -q '"\(dev\)\{0,1\}[dD]ependencies"' "$f" && [ ! -d "$(dirname "$f")/node_modules" ]; then
      bootstrap_log "${f#"$BOOTSTRAP_ROOT"/} has no node_modules yet"
      return 0
    fi
  done
  return 1
}

bootstrap_install() {
  local args=(install --config.confirm-modules-purge=false)
  if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then args+=(--frozen-lockfile); fi
  bootstrap_log "pnpm ${args[*]}"
  (cd "$BOOTSTRAP_ROOT" && "${PNPM[@]}" "${args[@]}" </dev/null >&2) || {
    bootstrap_log "pnpm install failed"
    return 1
  }
  touch "$BOOTSTRAP_ROOT/node_modules/.bootstrap-stamp"
}

pnpm_run() { "${PNPM[@]}" "$@"; }

bootstrap_main() {
  command -v node >/dev/null 2>&1 || {
    bootstrap_log "node is not installed (Node >= 20.19 is needed)"
    return 1
  }
  bootstrap_find_pnpm || return 1
  bootstrap_log "pnpm: ${PNPM[*]} ($PNPM_FOUND_VERSION)"
  if [ "${BOOTSTRAP_SKIP_INSTALL:-}" != 1 ]; then
    if bootstrap_needs_install; then
      bootstrap_install || return 1
    else
      bootstrap_log "dependencies are up to date"
    fi
  fi
  export PATH
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  bootstrap_main
  printf '%s\n' "${PNPM[*]}"
else
  bootstrap_main || return 1
fi
