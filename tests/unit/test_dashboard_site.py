"""What the dashboard's static site in template.yaml must keep true, and that local serving matches it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from local.cfn import _Tag, template
from local.web import content_security_policy, security_headers

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = template()["Resources"]
OUTPUTS = template()["Outputs"]


def _props(logical_id: str) -> dict[str, Any]:
    return dict(RESOURCES[logical_id]["Properties"])


def _directives(csp: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in (p.strip() for p in csp.split(";")) if part}


def _deployed_csp() -> str:
    config = _props("DashboardHeadersPolicy")["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    value = config["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert isinstance(value, _Tag) and value.tag == "Sub"
    return str(value.value)


def test_dashboard_site_bucket_is_private_encrypted_and_tls_only() -> None:
    # GIVEN the dashboard bucket and its policy
    bucket = _props("DashboardBucket")
    statements = _props("DashboardBucketPolicy")["PolicyDocument"]["Statement"]
    # THEN public access is blocked in all four ways, objects are encrypted, and plain HTTP is refused
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    deny = next(s for s in statements if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # AND the only reader is this stack's distribution, through CloudFront's service principal
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1
    assert allows[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allows[0]["Action"] == "s3:GetObject"
    source = allows[0]["Condition"]["StringEquals"]["aws:SourceArn"]
    assert "${DashboardDistribution}" in source.value


def test_dashboard_site_distribution_uses_origin_access_control_https_and_the_headers_policy() -> None:
    # GIVEN the distribution
    config = _props("DashboardDistribution")["DistributionConfig"]
    (origin,) = config["Origins"]
    behaviour = config["DefaultCacheBehavior"]
    # THEN it reads the bucket with origin access control (no legacy identity), over HTTPS only
    assert origin["OriginAccessControlId"].value == "DashboardOriginAccessControl.Id"
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    oac = _props("DashboardOriginAccessControl")["OriginAccessControlConfig"]
    assert (oac["SigningBehavior"], oac["SigningProtocol"]) == ("always", "sigv4")
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["ResponseHeadersPolicyId"].value == "DashboardHeadersPolicy"
    # AND ticket links (/tickets/<id>, no object) get the page, which routes them itself
    fallbacks = {e["ErrorCode"]: e["ResponsePagePath"] for e in config["CustomErrorResponses"]}
    assert fallbacks == {403: "/index.html", 404: "/index.html"}


def test_dashboard_site_headers_are_strict() -> None:
    # GIVEN the deployed response headers
    config = _props("DashboardHeadersPolicy")["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = _directives(_deployed_csp())
    # THEN scripts and styles come only from the site, nothing frames it, nothing is sniffed or leaked
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert all("unsafe" not in value and "*" not in value for value in csp.values())
    # AND the page may connect only to itself, the API, the hosted UI and the attachments bucket
    assert csp["connect-src"].split() == [
        "'self'",
        "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
        "https://${DashboardUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com",
        "https://${RawMailBucket}.s3.${AWS::Region}.${AWS::URLSuffix}",
    ]
    assert config["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert config["ContentTypeOptions"]["Override"] is True
    assert config["FrameOptions"]["FrameOption"] == "DENY"
    assert config["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"


def test_dashboard_uploads_are_allowed_by_the_bucket_cors_for_the_dashboard_origin_only() -> None:
    # GIVEN the bucket that holds tickets' files
    rules = _props("RawMailBucket")["CorsConfiguration"]["CorsRules"]
    # THEN one rule lets the dashboard's origin, and no other, POST a presigned upload form
    (rule,) = rules
    assert [origin.value for origin in rule["AllowedOrigins"]] == ["DashboardOrigin"]
    assert all(origin.tag == "Ref" for origin in rule["AllowedOrigins"])
    # AND nothing else: no other method, no header beyond a simple request's, nothing exposed
    assert rule["AllowedMethods"] == ["POST"]
    assert "AllowedHeaders" not in rule and "ExposedHeaders" not in rule


def test_dashboard_local_serving_sends_the_deployed_directives_but_its_own_connect_src() -> None:
    # GIVEN the CSP the local stack sends and the one CloudFront sends
    local = _directives(content_security_policy("'self' http://127.0.0.1:4566"))
    deployed = _directives(_deployed_csp())
    # THEN they differ only in where the page may connect
    assert {k: v for k, v in local.items() if k != "connect-src"} == {
        k: v for k, v in deployed.items() if k != "connect-src"
    }
    assert set(security_headers("'self'")) >= {
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Strict-Transport-Security",
    }


def test_dashboard_client_signs_in_with_the_code_grant_on_the_site_url() -> None:
    # GIVEN the dashboard's app client and the hosted UI domain
    client = _props("DashboardClient")
    domain = _props("DashboardUserPoolDomain")
    # THEN only the authorization code grant (PKCE: a public client, no secret), back to the site
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["GenerateSecret"] is False
    assert "openid" in client["AllowedOAuthScopes"]
    assert [url.value for url in client["CallbackURLs"]] == ["${DashboardUrl}/"]
    assert [url.value for url in client["LogoutURLs"]] == ["${DashboardUrl}/"]
    assert domain["UserPoolId"].value == "UserPool"
    # AND the config the deploy uploads sends the page to the same places
    config = OUTPUTS["DashboardConfig"]["Value"].value
    assert '"auth": "cognito"' in config and '"redirect_uri": "${DashboardUrl}/"' in config
    assert '"client_id": "${DashboardClient}"' in config


def test_dashboard_pages_load_no_inline_script_or_style() -> None:
    # GIVEN every file of web/
    html = (ROOT / "web" / "index.html").read_text()
    sources = [p.read_text() for p in (ROOT / "web").rglob("*.js")]
    # THEN scripts are files (the CSP forbids inline ones), and no data is ever parsed as markup
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert " style=" not in html
    assert not re.search(r"\bon[a-z]+\s*=", html)
    for text in sources:
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "outerHTML" not in text
        assert "document.write" not in text and "eval(" not in text
