/* curl_conn_cap.c: an LD_PRELOAD shim used by bench/run.sh to measure a proposed fix
 * without touching the engine.
 *
 * charla's HttpClient (engine/net/http_client.cpp) sets CURLMOPT_MAXCONNECTS (64
 * cached connections) but no CURLMOPT_MAX_HOST_CONNECTIONS, and the outbox sender keeps
 * one request in flight per recipient, so a burst to N recipients opens N connections
 * to the Graph API (thousands in the benchmark; each would be a TLS handshake in
 * production) and the surplus is closed again right after. This shim wraps
 * curl_multi_init() and caps connections per host at CHARLA_BENCH_MAX_HOST_CONNECTIONS
 * (default 64): curl then queues the extra transfers and reuses the warm connections.
 *
 * Build: cc -shared -fPIC -O2 -o curl_conn_cap.so curl_conn_cap.c -ldl
 * Use:   LD_PRELOAD=./curl_conn_cap.so charla serve ...
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdlib.h>

CURLM* curl_multi_init(void) {
  static CURLM* (*real)(void) = NULL;
  if (!real) real = (CURLM * (*)(void)) dlsym(RTLD_NEXT, "curl_multi_init");
  CURLM* m = real ? real() : NULL;
  if (m) {
    const char* env = getenv("CHARLA_BENCH_MAX_HOST_CONNECTIONS");
    long cap = env ? atol(env) : 64;
    if (cap > 0) curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, cap);
  }
  return m;
}
