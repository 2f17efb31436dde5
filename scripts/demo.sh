#!/usr/bin/env bash
# The toolkit's main job on the local sandbox: one request through the SOP, on the
# embedded defaults (SQLite state under .sandbox/, services on loopback).
# Run as root on Debian 12: bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

demo=.sandbox/demo
rm -rf "$demo"
mkdir -p "$demo"
cat > "$demo/provision.toml" <<TOML
[general]
state_dir = "$PWD/$demo/state"
TOML
export PROVISION_CONFIG="$PWD/$demo/provision.toml"
export PROVISION_ACTOR="${PROVISION_ACTOR:-demo-sysadmin}"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Step 1: the OPD's request letter arrives; open the request"
rid=$(provision request open --opd-code disdik --opd-name "Dinas Pendidikan" \
      --app "Sistem Informasi Sekolah" --letter-number "005/DISDIK/XI/$(date +%Y)" \
      --letter-date "$(date +%F)" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "request: $rid"
printf '%%PDF-1.4\n%% Surat Permohonan %s (contoh)\n' "$rid" > "$demo/surat-permohonan.pdf"

say "Steps 1-10: the manual steps, recorded with their outputs"
provision request step "$rid" 1 --done --output-ref "005/DISDIK/XI/$(date +%Y)" \
  --attach "$demo/surat-permohonan.pdf" --note "Surat permohonan diterima"
provision request step "$rid" 2 --done --output-ref "800/101/KOMINFO/$(date +%Y)" --note "Tim teknis Kominfo ditunjuk"
provision request step "$rid" 3 --done --output-ref "SK-12/DISDIK/$(date +%Y)"
provision request step "$rid" 4 --done --output-ref "UND-7/KOMINFO/$(date +%Y)"
provision request step "$rid" 5 --done --note "Analisis kebutuhan selesai"
for n in 6 7 8 9 10; do provision request step "$rid" "$n" --done; done

say "The application's desired state (spec)"
provision spec set "$rid" docs/examples/spec.yaml

say "The SLA view: every step, who, when, due"
provision request show "$rid"

say "The audit trail for $rid"
provision audit log "$rid"
provision audit verify

say "Done in $(( $(date +%s) - start )) s. State: $demo/state (SQLite)."
echo "Try: PROVISION_CONFIG=$PWD/$demo/provision.toml .venv/bin/provision request list"
