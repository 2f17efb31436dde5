#!/usr/bin/env bash
# The toolkit's main job on the local sandbox: one request from the OPD's letter to the
# Surat Rekomendasi, on the embedded defaults (SQLite state under .sandbox/, BIND, the
# GitLab emulator and a throwaway Kominfo server, all on loopback or in namespaces).
# Run as root on Debian 12: bash scripts/demo.sh   (stop the sandbox: python -m devstack.sandbox down)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "The sandbox: a Kominfo server, BIND (zone batam.test), the GitLab emulator"
python -m devstack.sandbox down >/dev/null 2>&1 || true   # a clean slate each run
rm -rf .sandbox/state
python -m devstack.sandbox up
sb=.sandbox
# The checks reach the app through the sandbox's forwarders on 127.0.0.1.
fwd=$(python -m devstack.sandbox status --json | python3 -c 'import json,sys; s=json.load(sys.stdin)["servers"][0]["forwards"]; print(s["80"], s["443"])')
read -r p80 p443 <<<"$fwd"
cp "$sb/provision.toml" "$sb/demo.toml"
cat >> "$sb/demo.toml" <<TOML

[checks]
probe_ports = [$p80, $p443]
connect_to = { "sisekolah.batam.test:443" = "127.0.0.1:$p443", "sisekolah.batam.test:80" = "127.0.0.1:$p80" }
ca_bundle = "$PWD/$sb/pebble/root.pem"  # the sandbox's ACME CA (pebble) signs the app's certificate

[reports]
signatory_name = "Kepala Dinas (contoh)"
signatory_nip = "19700101 199001 1 001"
TOML
export PROVISION_CONFIG="$PWD/$sb/demo.toml"
export PROVISION_ACTOR="${PROVISION_ACTOR:-demo-sysadmin}"
provision config check
say "Everything the configuration depends on: state, GitLab, DNS and TSIG, the server, ACME"
provision doctor

say "Step 1: the OPD's request letter arrives; open the request"
rid=$(provision request open --opd-code disdik --opd-name "Dinas Pendidikan" \
      --app "Sistem Informasi Sekolah" --letter-number "005/DISDIK/XI/$(date +%Y)" \
      --letter-date "$(date +%F)" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "request: $rid"
printf '%%PDF-1.4\n%% Surat Permohonan %s (contoh)\n' "$rid" > "$sb/surat-permohonan.pdf"

say "Steps 1-10: the manual steps, recorded with their outputs"
provision request step "$rid" 1 --done --output-ref "005/DISDIK/XI/$(date +%Y)" \
  --attach "$sb/surat-permohonan.pdf" --note "Surat permohonan diterima"
provision request step "$rid" 2 --done --output-ref "800/101/KOMINFO/$(date +%Y)" --note "Tim teknis Kominfo ditunjuk"
provision request step "$rid" 3 --done --output-ref "SK-12/DISDIK/$(date +%Y)"
provision request step "$rid" 4 --done --output-ref "UND-7/KOMINFO/$(date +%Y)"
provision request step "$rid" 5 --done --note "Analisis kebutuhan selesai"
for n in 6 7 8 9 10; do provision request step "$rid" "$n" --done; done
provision spec set "$rid" scripts/demo-spec.yaml

say "Step 11: the repository on GitLab"
provision apply "$rid" --until 11 --yes

say "Steps 12-13: the developer pushes the application and presents it"
python -m devstack.demo_push "$rid" "$sb/gitlab/credentials.json"
provision request step "$rid" 12 --done --note "Pengembangan selesai, rilis v1.0.0"
provision request step "$rid" 13 --done --note "Presentasi hasil: UAT, uji penetrasi, panduan"

say "Steps 14-15: install and test, subdomain, hosting, letters"
provision apply "$rid" --ref v1.0.0 --yes

say "The certificate, issued by the sandbox's ACME CA (pebble) through certbot's HTTP-01 on the server"
openssl s_client -connect "127.0.0.1:$p443" -servername sisekolah.batam.test -verify_hostname sisekolah.batam.test \
  -CAfile "$sb/pebble/root.pem" -verify_return_error </dev/null 2>/dev/null \
  | openssl x509 -noout -issuer -subject -ext subjectAltName -enddate
curl -sS --fail -o /dev/null -w "HTTPS %{http_code}, certificate verified against pebble's root\n" \
  --cacert "$sb/pebble/root.pem" --resolve "sisekolah.batam.test:$p443:127.0.0.1" "https://sisekolah.batam.test:$p443/"

say "The nightly check"
provision check --request "$rid"

say "The SLA view"
provision request show "$rid"
say "The audit trail for $rid"
provision audit log "$rid"
provision audit verify

say "Done in $(( $(date +%s) - start )) s."
echo "The application: https://sisekolah.batam.test/ (resolve it with: dig @127.0.0.1 -p $(python3 -c 'import json; print(json.load(open(".sandbox/bind.json"))["primary"].split(":")[1])') sisekolah.batam.test)"
echo "  curl --cacert $sb/pebble/root.pem --resolve sisekolah.batam.test:$p443:127.0.0.1 https://sisekolah.batam.test:$p443/"
echo "Documents: $(ls "$sb"/state/reports/*/* 2>/dev/null | tr '\n' ' ')"
echo "Audit log: PROVISION_CONFIG=$PROVISION_CONFIG provision audit log $rid"
echo "Stop the sandbox: python -m devstack.sandbox down"
