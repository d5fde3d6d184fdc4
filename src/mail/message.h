/*
 * mail/message.h - what an email says and how it is put on the wire.
 *
 * The two halves live in their own modules; this header brings both to the
 * callers that render and send mail (api/account.c, mail/outbox.c):
 *
 *   - mail/templates.h: content.  mail_render() fills subject, text and
 *     HTML when a request enqueues the email (the outbox stores them).
 *   - mail/mime.h: wire format.  mail_build() wraps stored content into an
 *     RFC 5322 / MIME message only when the sender sends it, so a retry
 *     sends the same words with a fresh Date and the same Message-ID.
 */
#ifndef AUTH_MAIL_MESSAGE_H
#define AUTH_MAIL_MESSAGE_H

#include "mail/mime.h"
#include "mail/templates.h"

#endif
