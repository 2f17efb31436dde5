"""Hosting state on a sandbox server, set up directly the way the playbooks lay it out
(until `provision hosting` lands): the app user and home, document root, nginx vhost with
a TLS certificate, php-fpm pool."""

from __future__ import annotations

from typing import Any

VHOST = """server {{
    listen 80;
    server_name {domain};
    root {root};
    index index.html index.php;
{php}
}}
server {{
    listen 443 ssl;
    server_name {domain};
    ssl_certificate /etc/ssl/kominfo/{slug}.crt;
    ssl_certificate_key /etc/ssl/kominfo/{slug}.key;
    root {root};
    index index.html index.php;
{php}
}}
"""
PHP_LOCATION = """    location ~ \\.php$ {{
        include fastcgi_params;
        fastcgi_pass unix:/run/php/{slug}.sock;
        fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name;
    }}"""
POOL = """[{slug}]
user = {slug}
group = {slug}
listen = /run/php/{slug}.sock
listen.owner = {slug}
listen.group = www-data
listen.mode = 0660
pm = ondemand
pm.max_children = 2
chdir = /
"""


def put(server: Any, path: str, data: bytes | str, mode: str = "0644") -> None:
    text = data.decode() if isinstance(data, bytes) else data
    server.run(f"mkdir -p \"$(dirname {path})\" && cat > {path} && chmod {mode} {path}", input=text)


def install_app(server: Any, slug: str, domain: str, cert: bytes, key: bytes, kind: str = "static",
                apps_root: str = "/srv/apps", database: str | None = None) -> None:
    """Everything one application needs on the server (no reload: call `reload` once after)."""
    home = f"{apps_root}/{slug}"
    root = f"{home}/current"
    # The layout roles/app_user makes: the code the deploy identity's, readable by the app's
    # group, the home traversable by nginx through an ACL.
    server.run("id -u kominfo-deploy >/dev/null 2>&1 || useradd --system --home-dir /var/lib/kominfo-deploy "
               "--shell /usr/sbin/nologin --user-group kominfo-deploy")
    server.run(f"id -u {slug} >/dev/null 2>&1 || useradd --system --home-dir {home} --shell /usr/sbin/nologin "
               f"--user-group {slug}; mkdir -p {root} && chown -R kominfo-deploy:{slug} {home} && chmod 0750 {home} "
               f"&& chmod 0755 {root} && setfacl -m u:www-data:x {home}")
    if kind == "php":
        put(server, f"{root}/index.php", f"<?php echo 'Halo dari ' . '{slug}';\n", "0644")
        put(server, f"/etc/php/8.2/fpm/pool.d/{slug}.conf", POOL.format(slug=slug))
    else:
        put(server, f"{root}/index.html", f"<h1>Halo dari {slug}</h1>\n", "0644")
    server.run(f"chown -R kominfo-deploy:{slug} {root}")
    if database == "mariadb":
        server.run(f"mysql -e 'CREATE DATABASE IF NOT EXISTS `{slug.replace('-', '_')}`'")
    put(server, f"/etc/ssl/kominfo/{slug}.crt", cert)
    put(server, f"/etc/ssl/kominfo/{slug}.key", key, "0600")
    php = PHP_LOCATION.format(slug=slug) if kind == "php" else ""
    put(server, f"/etc/nginx/sites-available/{slug}.conf", VHOST.format(domain=domain, root=root, slug=slug, php=php))
    server.run(f"ln -sf /etc/nginx/sites-available/{slug}.conf /etc/nginx/sites-enabled/{slug}.conf")


def reload(server: Any) -> None:
    server.run("nginx -t && systemctl restart nginx && systemctl restart php8.2-fpm")
    server.wait_services(("nginx", "php8.2-fpm"))
