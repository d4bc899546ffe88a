"""The console page as served: versioned module URLs, a strict CSP, the XSRF cookie,
and the JavaScript kept free of HTML injection sinks (data enters as text only)."""

import json
import pathlib
import re

import pytest

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
MODULES = sorted(p.relative_to(STATIC).as_posix() for p in (STATIC / "js").rglob("*.js"))
IMPORT_RE = re.compile(r"""^\s*import\s[^'"]*?from\s+["']([^"']+)["']|^\s*import\s+["']([^"']+)["']""", re.M)


async def console_page(http_client, base_url):
    response = await http_client.fetch(base_url + "/")
    assert response.code == 200
    html = response.body.decode()
    importmap = json.loads(re.search(r'<script type="importmap" nonce="([^"]+)">(.*?)</script>', html, re.S).group(2))
    return response, html, importmap["imports"]


@pytest.mark.gen_test
async def test_the_page_pins_every_module_to_a_versioned_url(app, http_client, base_url):
    response, html, imports = await console_page(http_client, base_url)
    assert sorted(imports) == [f"/static/{path}" for path in MODULES]
    for plain, versioned in imports.items():
        assert versioned.startswith(plain + "?v=") and len(versioned) > len(plain) + 5
        module = await http_client.fetch(base_url + versioned)
        assert module.code == 200 and "javascript" in module.headers["Content-Type"]
        assert "max-age=315360000" in module.headers.get("Cache-Control", "")
    assert imports["/static/js/main.js"] in html
    css = re.search(r'href="(/static/console\.css\?v=[^"]+)"', html).group(1)
    assert (await http_client.fetch(base_url + css)).code == 200


@pytest.mark.gen_test
async def test_the_page_has_a_strict_csp_whose_nonce_covers_only_its_own_scripts(app, http_client, base_url):
    first, html, _ = await console_page(http_client, base_url)
    second, _, _ = await console_page(http_client, base_url)
    csp = first.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert nonce != re.search(r"'nonce-([^']+)'", second.headers["Content-Security-Policy"]).group(1)
    assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
    assert re.findall(r'nonce="([^"]+)"', html) == [nonce, nonce]  # the import map and main.js only


@pytest.mark.gen_test
async def test_the_page_sets_the_xsrf_cookie_that_cookie_writes_echo_back(app, http_client, base_url):
    response, _, _ = await console_page(http_client, base_url)
    cookies = response.headers.get_list("Set-Cookie")
    assert any(cookie.startswith("_xsrf=") for cookie in cookies), cookies


@pytest.mark.parametrize("path", MODULES)
def test_modules_never_insert_html_and_import_only_existing_modules(path):
    source = (STATIC / path).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source, f"{path} uses {sink}: build nodes with dom.js h() and textContent"
    for match in IMPORT_RE.finditer(source):
        target = (STATIC / path).parent / (match.group(1) or match.group(2))
        assert target.resolve().is_file(), f"{path} imports missing {target}"
