// The Allow lists porta answers with (RFC 9110 §10.2.1): one per kind of
// resource, said once.

/** Static files and listings. */
export const STATIC_ALLOW = 'GET, HEAD, OPTIONS';

/** Anything on this server (OPTIONS *, CONNECT refused): CGI programs take any method. */
export const SERVER_ALLOW = 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS';
