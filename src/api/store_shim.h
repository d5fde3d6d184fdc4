/* TEMPORARY (until the store branch lands): column-scoped user writes over store_user_update. */
#ifndef AUTH_STORE_SHIM_H
#define AUTH_STORE_SHIM_H
#include "store/store.h"
enum store_rc store_user_lock(struct store_conn *c, const char *id, struct user *out);
enum store_rc store_user_set_password(struct store_conn *c, const char *id, const char *hash,
                                      int64_t now, struct user *out);
enum store_rc store_user_rehash(struct store_conn *c, const char *id, const char *old_hash,
                                const char *new_hash);
enum store_rc store_user_set_name(struct store_conn *c, const char *id, const char *full_name,
                                  int64_t now, struct user *out);
enum store_rc store_user_set_flags(struct store_conn *c, const char *id, int is_active,
                                   int is_verified, int64_t now, struct user *out);
enum store_rc store_user_set_roles(struct store_conn *c, const char *id, const char *roles,
                                   int64_t now, struct user *out);
#endif
