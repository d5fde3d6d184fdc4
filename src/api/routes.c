/*
 * api/routes.c - the route table: method, path template, handler, pool.
 *
 * The pool column is the architecture in one place: POOL_INLINE answers
 * on the HTTP thread (nothing that can block), POOL_PROBE has its own
 * thread so readiness never queues behind traffic, POOL_DB serves
 * database-bound requests and POOL_CPU the bcrypt-bound ones, so a login
 * flood saturates the CPU pool while token checks keep flowing on DB.
 */
#include "api/api.h"

const struct route api_routes[] = {
        {"GET", "/api/v1/health", api_health, POOL_INLINE},
        {"GET", "/api/v1/ready", api_ready, POOL_PROBE},
        {"GET", "/.well-known/jwks.json", api_jwks, POOL_INLINE},
        {"GET", "/.well-known/openid-configuration", api_openid_configuration, POOL_INLINE},
        {"GET", "/metrics", api_metrics, POOL_INLINE},
        {"GET", "/openapi.json", api_openapi, POOL_INLINE},

        {"POST", "/api/v1/auth/register", api_register, POOL_CPU},
        {"POST", "/api/v1/auth/login", api_login, POOL_CPU},
        {"POST", "/api/v1/auth/refresh", api_refresh, POOL_DB},
        {"POST", "/api/v1/auth/logout", api_logout, POOL_DB},
        {"POST", "/api/v1/auth/logout-all", api_logout_all, POOL_DB},
        {"GET", "/api/v1/auth/sessions", api_sessions_list, POOL_DB},
        {"DELETE", "/api/v1/auth/sessions/{id}", api_session_delete, POOL_DB},
        /* account.c */
        {"POST", "/api/v1/auth/verify-email", api_verify_email, POOL_DB},
        {"POST", "/api/v1/auth/verify-email/resend", api_verify_email_resend, POOL_DB},
        {"POST", "/api/v1/auth/password/forgot", api_password_forgot, POOL_DB},
        {"POST", "/api/v1/auth/password/reset", api_password_reset, POOL_CPU},
        {"POST", "/api/v1/auth/password/change", api_password_change, POOL_CPU},

        {"GET", "/api/v1/users/me", api_me_get, POOL_DB},
        {"PATCH", "/api/v1/users/me", api_me_patch, POOL_DB},
        {"DELETE", "/api/v1/users/me", api_me_delete, POOL_CPU},

        {"GET", "/api/v1/admin/users", api_admin_users_list, POOL_DB},
        {"GET", "/api/v1/admin/users/{id}", api_admin_user_get, POOL_DB},
        {"PATCH", "/api/v1/admin/users/{id}", api_admin_user_patch, POOL_DB},
        {"DELETE", "/api/v1/admin/users/{id}", api_admin_user_delete, POOL_DB},

        {"POST", "/oauth/token", api_oauth_token, POOL_CPU},
        {"POST", "/oauth/revoke", api_oauth_revoke, POOL_DB},
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
