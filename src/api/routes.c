/*
 * api/routes.c - the route table: method, path template, pool, and the
 * policy of each endpoint (who may call it, which rate limit it counts
 * toward).
 *
 * The pool column is the architecture in one place: POOL_INLINE answers
 * on the HTTP thread (nothing that can block), POOL_PROBE has its own
 * thread so readiness never queues behind traffic, POOL_DB serves
 * database-bound requests and POOL_CPU the bcrypt-bound ones, so a login
 * flood saturates the CPU pool while token checks keep flowing on DB.
 *
 * ENDPOINT routes go through api_dispatch (dispatch.c), which enforces
 * .auth and .rate before the handler runs; a handler never authenticates
 * by itself.
 */
#include "api/api.h"

/* A plain http handler: answered from memory, or the readiness probe. */
#define PLAIN(method, path, fn, pool, flags)                                                       \
	{                                                                                          \
		method, path, fn, pool, flags, NULL                                                \
	}
/* A dispatched endpoint: .fn, and optionally .auth and .rate. */
#define ENDPOINT(method, path, pool, ...)                                                          \
	{                                                                                          \
		method, path, api_dispatch, pool, 0, &(const struct endpoint)                      \
		{                                                                                  \
			__VA_ARGS__                                                                \
		}                                                                                  \
	}

const struct route api_routes[] = {
        PLAIN("GET", "/api/v1/health", api_health, POOL_INLINE, 0),
        PLAIN("GET", "/api/v1/ready", api_ready, POOL_PROBE, ROUTE_ANSWERS_DRAINING),
        PLAIN("GET", "/.well-known/jwks.json", api_jwks, POOL_INLINE, 0),
        PLAIN("GET", "/.well-known/openid-configuration", api_openid_configuration, POOL_INLINE, 0),
        PLAIN("GET", "/metrics", api_metrics, POOL_INLINE, 0),
        PLAIN("GET", "/openapi.json", api_openapi, POOL_INLINE, 0),

        ENDPOINT("POST", "/api/v1/auth/register", POOL_CPU, .fn = api_register, .rate = RATE_IP),
        ENDPOINT("POST", "/api/v1/auth/login", POOL_CPU, .fn = api_login, .rate = RATE_IP),
        ENDPOINT("POST", "/api/v1/auth/refresh", POOL_DB, .fn = api_refresh),
        ENDPOINT("POST", "/api/v1/auth/logout", POOL_DB, .fn = api_logout, .auth = AUTH_USER),
        ENDPOINT("POST", "/api/v1/auth/logout-all", POOL_DB, .fn = api_logout_all,
                 .auth = AUTH_USER),
        ENDPOINT("GET", "/api/v1/auth/sessions", POOL_DB, .fn = api_sessions_list,
                 .auth = AUTH_USER),
        ENDPOINT("DELETE", "/api/v1/auth/sessions/{id}", POOL_DB, .fn = api_session_delete,
                 .auth = AUTH_USER),
        /* account.c */
        ENDPOINT("POST", "/api/v1/auth/verify-email", POOL_DB, .fn = api_verify_email),
        ENDPOINT("POST", "/api/v1/auth/verify-email/resend", POOL_DB, .fn = api_verify_email_resend,
                 .auth = AUTH_USER, .rate = RATE_IP),
        ENDPOINT("POST", "/api/v1/auth/password/forgot", POOL_DB, .fn = api_password_forgot,
                 .rate = RATE_IP_VALID),
        ENDPOINT("POST", "/api/v1/auth/password/reset", POOL_CPU, .fn = api_password_reset,
                 .rate = RATE_IP),
        ENDPOINT("POST", "/api/v1/auth/password/change", POOL_CPU, .fn = api_password_change,
                 .auth = AUTH_USER),

        ENDPOINT("GET", "/api/v1/users/me", POOL_DB, .fn = api_me_get, .auth = AUTH_USER),
        ENDPOINT("PATCH", "/api/v1/users/me", POOL_DB, .fn = api_me_patch, .auth = AUTH_USER),
        ENDPOINT("DELETE", "/api/v1/users/me", POOL_CPU, .fn = api_me_delete, .auth = AUTH_USER),

        ENDPOINT("GET", "/api/v1/admin/users", POOL_DB, .fn = api_admin_users_list,
                 .auth = AUTH_ADMIN),
        ENDPOINT("GET", "/api/v1/admin/users/{id}", POOL_DB, .fn = api_admin_user_get,
                 .auth = AUTH_ADMIN),
        ENDPOINT("PATCH", "/api/v1/admin/users/{id}", POOL_DB, .fn = api_admin_user_patch,
                 .auth = AUTH_ADMIN),
        ENDPOINT("DELETE", "/api/v1/admin/users/{id}", POOL_DB, .fn = api_admin_user_delete,
                 .auth = AUTH_ADMIN),

        ENDPOINT("POST", "/oauth/token", POOL_CPU, .fn = api_oauth_token, .rate = RATE_IP,
                 .oauth_errors = true),
        ENDPOINT("POST", "/oauth/revoke", POOL_DB, .fn = api_oauth_revoke),
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
