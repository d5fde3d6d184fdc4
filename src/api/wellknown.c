/*
 * api/wellknown.c - discovery documents: the JWKS a resource server needs
 * to verify our tokens offline, and the OpenID-style metadata that points
 * standard clients at our endpoints.  Both are answered on the HTTP
 * thread from memory (the JWKS text is built once when keys load).
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "auth/keys.h"
#include "config.h"

void api_jwks(struct req *r, struct resp *rs)
{
	const char *jwks = keys_jwks(r->app->keys);

	resp_body(rs, 200, "application/json", jwks, strlen(jwks));
	resp_header(rs, "Cache-Control", "public, max-age=300");
}

static json_t *strings(const char *a, const char *b)
{
	json_t *arr = json_array();

	json_array_append_new(arr, json_string(a));
	if (b)
		json_array_append_new(arr, json_string(b));
	return arr;
}

void api_openid_configuration(struct req *r, struct resp *rs)
{
	const char *iss = r->app->cfg->jwt_issuer;
	size_t n = strlen(iss);
	json_t *o = json_object();
	char url[1024];

	/* The issuer is an origin or base URL; endpoints hang off it without "//". */
	if (n && iss[n - 1] == '/')
		n--;
	json_object_set_new(o, "issuer", json_string(iss));
	snprintf(url, sizeof(url), "%.*s/.well-known/jwks.json", (int)n, iss);
	json_object_set_new(o, "jwks_uri", json_string(url));
	snprintf(url, sizeof(url), "%.*s/oauth/token", (int)n, iss);
	json_object_set_new(o, "token_endpoint", json_string(url));
	snprintf(url, sizeof(url), "%.*s/oauth/revoke", (int)n, iss);
	json_object_set_new(o, "revocation_endpoint", json_string(url));
	json_object_set_new(o, "grant_types_supported", strings("password", "refresh_token"));
	json_object_set_new(o, "token_endpoint_auth_methods_supported", strings("none", NULL));
	json_object_set_new(o, "revocation_endpoint_auth_methods_supported", strings("none", NULL));
	json_object_set_new(o, "id_token_signing_alg_values_supported", strings("RS256", NULL));
	/* No authorization endpoint (yet): no response type is served. */
	json_object_set_new(o, "response_types_supported", json_array());
	json_object_set_new(o, "subject_types_supported", strings("public", NULL));
	resp_json(rs, 200, o);
	resp_header(rs, "Cache-Control", "public, max-age=300");
}
