/* oakdata._speedups: capture()'s common case and the message ids, compiled.

The same work as the first branch of _capture.encode_capture and as _ids.new_ids, written
in C because in Python most of a capture's cost is the interpreter itself: a capture with
orjson ran ~25,000 instructions, of which orjson's encoding is ~3,500. Everything here
writes exactly what the Python code writes; tests/sdk/test_compiled.py runs both on the
same input. Anything out of the ordinary returns to Python: a capture this file does not
handle is passed to the pure function it was built with, unchanged.

The module keeps no lock of its own. Every function runs holding the GIL, and reads or
writes shared state only between calls into Python, so no other thread can see it half
written (a call into Python may let another thread run).
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#define UUID_LENGTH 36      /* xxxxxxxx-xxxx-7xxx-vxxx-xxxxxxxxxxxx */
#define HEAD_LENGTH 15      /* xxxxxxxx-xxxx-7 */
#define TAIL_LENGTH 18      /* -vxxx-xxxxxxxxxxxx */
#define SECOND_LENGTH 19    /* YYYY-MM-DDTHH:MM:SS */
#define STAMP_LENGTH 27     /* YYYY-MM-DDTHH:MM:SS.mmmuuuZ */

static const char HEX[] = "0123456789abcdef";

/* ---- ids: _ids.new_ids, with the same per-millisecond cache ---------------------------- */

static struct {
    PyObject *clock;       /* time.time_ns */
    PyObject *random_tail; /* _ids._random_tail: a fresh "-vxxx-xxxxxxxxxxxx" */
    PyObject *utc_second;  /* _ids._utc_second: "YYYY-MM-DDTHH:MM:SS" for a Unix second */
    long long millisecond; /* the one head, tail and stamp below belong to; -1 for none */
    long long second;      /* the one date_time belongs to */
    char head[HEAD_LENGTH];
    char tail[TAIL_LENGTH];
    char date_time[SECOND_LENGTH];
    unsigned counter; /* the 12-bit counter, as _ids._counter */
    unsigned made;    /* ids made with this tail: at 4096 the counter would come round */
} ids = {NULL, NULL, NULL, -1, -1, {0}, {0}, {0}, 0, 0};

static long long floor_div(long long a, long long b) {
    long long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Copies str (ASCII, of exactly `length` characters) to out; -1 with ValueError otherwise. */
static int copy_ascii(PyObject *str, char *out, Py_ssize_t length, const char *what) {
    if (!PyUnicode_Check(str) || !PyUnicode_IS_ASCII(str) || PyUnicode_GET_LENGTH(str) != length) {
        PyErr_Format(PyExc_ValueError, "%s must be %zd ASCII characters", what, length);
        return -1;
    }
    memcpy(out, PyUnicode_1BYTE_DATA(str), (size_t)length);
    return 0;
}

/* Sets the cache for a new millisecond. Its Python calls may let another thread run, so the
   cache is written only after the last of them. */
static int enter_millisecond(long long millisecond) {
    char tail[TAIL_LENGTH], date_time[SECOND_LENGTH];
    long long second = floor_div(millisecond, 1000);
    PyObject *drawn = PyObject_CallNoArgs(ids.random_tail);
    if (drawn == NULL) {
        return -1;
    }
    int failed = copy_ascii(drawn, tail, TAIL_LENGTH, "random_tail()");
    Py_DECREF(drawn);
    if (failed) {
        return -1;
    }
    if (second != ids.second) {
        PyObject *formatted = PyObject_CallFunction(ids.utc_second, "L", second);
        if (formatted == NULL) {
            return -1;
        }
        failed = copy_ascii(formatted, date_time, SECOND_LENGTH, "utc_second()");
        Py_DECREF(formatted);
        if (failed) {
            return -1;
        }
    }
    else {
        memcpy(date_time, ids.date_time, SECOND_LENGTH);
    }
    /* No Python call from here to the end: the cache changes in one step. */
    unsigned long long high = ((unsigned long long)millisecond >> 16) & 0xFFFFFFFFull;
    unsigned long long low = (unsigned long long)millisecond & 0xFFFF;
    for (int i = 7; i >= 0; i--, high >>= 4) {
        ids.head[i] = HEX[high & 0xF];
    }
    ids.head[8] = '-';
    for (int i = 12; i >= 9; i--, low >>= 4) {
        ids.head[i] = HEX[low & 0xF];
    }
    ids.head[13] = '-';
    ids.head[14] = '7';
    memcpy(ids.tail, tail, TAIL_LENGTH);
    memcpy(ids.date_time, date_time, SECOND_LENGTH);
    ids.second = second;
    ids.millisecond = millisecond;
    ids.made = 0;
    return 0;
}

static void write_digits3(char *out, long long value) {
    out[0] = (char)('0' + value / 100);
    out[1] = (char)('0' + value / 10 % 10);
    out[2] = (char)('0' + value % 10);
}

/* A fresh uuid and timestamp into the two buffers; -1 with an exception set. */
static int make_ids(char *uuid, char *stamp) {
    if (ids.clock == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure_ids() was not called");
        return -1;
    }
    PyObject *now = PyObject_CallNoArgs(ids.clock);
    if (now == NULL) {
        return -1;
    }
    long long now_ns = PyLong_AsLongLong(now);
    Py_DECREF(now);
    if (now_ns == -1 && PyErr_Occurred()) {
        return -1;
    }
    long long millisecond = floor_div(now_ns, 1000000);
    /* This code can make more than 4096 ids in a millisecond (the pure form cannot): then
       the counter would repeat under the same tail, so a fresh tail is drawn. */
    if ((millisecond != ids.millisecond || ids.made >= 4096) &&
        enter_millisecond(millisecond) < 0) {
        return -1;
    }
    ids.made++;
    unsigned counter = ids.counter++ & 0xFFF;
    memcpy(uuid, ids.head, HEAD_LENGTH);
    uuid[15] = HEX[counter >> 8];
    uuid[16] = HEX[(counter >> 4) & 0xF];
    uuid[17] = HEX[counter & 0xF];
    memcpy(uuid + 18, ids.tail, TAIL_LENGTH);
    memcpy(stamp, ids.date_time, SECOND_LENGTH);
    stamp[19] = '.';
    /* As _ids: the millisecond the cache was made for, the microseconds of this reading. */
    long long within = millisecond - floor_div(millisecond, 1000) * 1000;
    write_digits3(stamp + 20, within);
    write_digits3(stamp + 23, floor_div(now_ns, 1000) - floor_div(now_ns, 1000000) * 1000);
    stamp[26] = 'Z';
    return 0;
}

static PyObject *ascii_str(const char *data, Py_ssize_t length) {
    PyObject *str = PyUnicode_New(length, 127);
    if (str != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(str), data, (size_t)length);
    }
    return str;
}

static PyObject *new_ids(PyObject *module, PyObject *unused) {
    char uuid[UUID_LENGTH], stamp[STAMP_LENGTH];
    if (make_ids(uuid, stamp) < 0) {
        return NULL;
    }
    PyObject *uuid_str = ascii_str(uuid, UUID_LENGTH);
    if (uuid_str == NULL) {
        return NULL;
    }
    PyObject *stamp_str = ascii_str(stamp, STAMP_LENGTH);
    if (stamp_str == NULL) {
        Py_DECREF(uuid_str);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, uuid_str, stamp_str);
    Py_DECREF(uuid_str);
    Py_DECREF(stamp_str);
    return pair;
}

static PyObject *configure_ids(PyObject *module, PyObject *args) {
    PyObject *clock, *random_tail, *utc_second;
    if (!PyArg_ParseTuple(args, "OOO:configure_ids", &clock, &random_tail, &utc_second)) {
        return NULL;
    }
    Py_INCREF(clock);
    Py_INCREF(random_tail);
    Py_INCREF(utc_second);
    Py_XSETREF(ids.clock, clock);
    Py_XSETREF(ids.random_tail, random_tail);
    Py_XSETREF(ids.utc_second, utc_second);
    ids.millisecond = -1;
    ids.second = -1;
    Py_RETURN_NONE;
}

/* The ids' state is one per process, and its callables belong to the interpreter that
   configured it: only the main interpreter uses this module (in a subinterpreter, mod_wsgi's
   say, _compiled falls back to the pure Python form). */
static PyObject *in_main_interpreter(PyObject *module, PyObject *unused) {
    return PyBool_FromLong(PyInterpreterState_Get() == PyInterpreterState_Main());
}

/* In a forked child: the next id draws a new tail, so parent and child never share one. */
static PyObject *reseed(PyObject *module, PyObject *unused) {
    ids.millisecond = -1;
    Py_RETURN_NONE;
}

/* ---- capture: the first branch of _capture.encode_capture ------------------------------ */

static PyObject *LIB_KEY, *LIB_VERSION_KEY, *EMPTY_STR, *ZERO;

typedef struct {
    PyObject_HEAD
    PyObject *general;      /* _capture.encode_capture bound to its Encoder: all other cases */
    PyObject *dumps;        /* orjson.dumps, or None */
    PyObject *default_hook; /* the Encoder's default, for values JSON has no form for */
    PyObject *option;       /* orjson's option flags */
    PyObject *chunks;       /* the json package's C encoder, (value, 0) -> str parts; or None */
    PyObject *tail;         /* bytes: the library's properties and the message's end */
    PyObject *only_lib;     /* bytes: the properties when the caller gave none */
    PyObject *known_events; /* dict: event names already checked -> their JSON bytes */
    Py_ssize_t max_id_length;
    Py_ssize_t max_known_events;
} CaptureEncoder;

/* What _message requires of an id or event name: a plain str, 1 to max_length characters,
   not all whitespace. */
static int valid_id(PyObject *value, Py_ssize_t max_length) {
    if (!PyUnicode_CheckExact(value)) {
        return 0;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(value);
    if (length == 0 || length > max_length) {
        return 0;
    }
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    for (Py_ssize_t i = 0; i < length; i++) {
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) {
            return 1;
        }
    }
    return 0;
}

/* How many more bytes than itself each byte takes in a JSON string, as the json package's
   encode_basestring writes it: 1 for \" \\ \b \f \n \r \t, 5 for the other control characters
   (\u00XX), 0 for everything else (UTF-8 is written as it is). Filled in at import. */
static unsigned char EXTRA[256];

static void fill_extra(void) {
    for (int c = 0; c < 0x20; c++) {
        EXTRA[c] = 5;
    }
    const char *short_forms = "\"\\\b\f\n\r\t";
    for (const char *c = short_forms; *c; c++) {
        EXTRA[(unsigned char)*c] = 1;
    }
}

static Py_ssize_t quoted_length(const unsigned char *text, Py_ssize_t length) {
    Py_ssize_t total = length + 2;
    for (Py_ssize_t i = 0; i < length; i++) {
        total += EXTRA[text[i]];
    }
    return total;
}

/* Writes text quoted; `quoted` is its quoted_length. */
static char *write_quoted(char *out, const unsigned char *text, Py_ssize_t length,
                          Py_ssize_t quoted) {
    *out++ = '"';
    if (quoted == length + 2) { /* nothing to escape: nearly every id, name and key */
        memcpy(out, text, (size_t)length);
        out += length;
        *out++ = '"';
        return out;
    }
    for (Py_ssize_t i = 0; i < length; i++) {
        unsigned char c = text[i];
        char escape = 0;
        switch (c) {
            case '"': escape = '"'; break;
            case '\\': escape = '\\'; break;
            case '\b': escape = 'b'; break;
            case '\f': escape = 'f'; break;
            case '\n': escape = 'n'; break;
            case '\r': escape = 'r'; break;
            case '\t': escape = 't'; break;
            default: break;
        }
        if (escape) {
            *out++ = '\\';
            *out++ = escape;
        }
        else if (c < 0x20) {
            memcpy(out, "\\u00", 4);
            out[4] = HEX[c >> 4];
            out[5] = HEX[c & 0xF];
            out += 6;
        }
        else {
            *out++ = (char)c;
        }
    }
    *out++ = '"';
    return out;
}

/* text's UTF-8: borrowed from an ASCII str, else in *holder (a new bytes object). NULL with
   UnicodeEncodeError for a lone surrogate. */
static const unsigned char *utf8_of(PyObject *text, Py_ssize_t *length, PyObject **holder) {
    *holder = NULL;
    if (PyUnicode_IS_ASCII(text)) {
        *length = PyUnicode_GET_LENGTH(text);
        return PyUnicode_1BYTE_DATA(text);
    }
    *holder = PyUnicode_AsUTF8String(text);
    if (*holder == NULL) {
        return NULL;
    }
    *length = PyBytes_GET_SIZE(*holder);
    return (const unsigned char *)PyBytes_AS_STRING(*holder);
}

/* The event name as JSON bytes, from the cache or checked and quoted now; NULL without an
   exception when the name is not one this file writes (the general path explains why). */
static PyObject *quoted_event(CaptureEncoder *self, PyObject *event) {
    if (!PyUnicode_CheckExact(event)) {
        return NULL;
    }
    PyObject *known = PyDict_GetItemWithError(self->known_events, event);
    if (known != NULL) {
        return Py_NewRef(known);
    }
    if (PyErr_Occurred() || !valid_id(event, self->max_id_length)) {
        return NULL;
    }
    PyObject *holder;
    Py_ssize_t length;
    const unsigned char *text = utf8_of(event, &length, &holder);
    if (text == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear(); /* a lone surrogate: the general path repairs it */
        }
        return NULL;
    }
    Py_ssize_t quoted_size = quoted_length(text, length);
    PyObject *quoted = PyBytes_FromStringAndSize(NULL, quoted_size);
    if (quoted != NULL) {
        write_quoted(PyBytes_AS_STRING(quoted), text, length, quoted_size);
        if (PyDict_GET_SIZE(self->known_events) < self->max_known_events &&
            PyDict_SetItem(self->known_events, event, quoted) < 0) {
            Py_CLEAR(quoted);
        }
    }
    Py_XDECREF(holder);
    return quoted;
}

/* The properties' JSON in *holder (bytes or str) and its UTF-8 in *json; 0 when the encoder
   refused them (the general path repairs what it can), -1 with an exception otherwise. */
static int encode_properties(CaptureEncoder *self, PyObject *properties, PyObject **holder,
                             const char **json, Py_ssize_t *length) {
    *holder = NULL;
    if (self->dumps != Py_None) {
        PyObject *args[3] = {properties, self->default_hook, self->option};
        *holder = PyObject_Vectorcall(self->dumps, args, 3, NULL);
        if (*holder != NULL && !PyBytes_Check(*holder)) {
            Py_CLEAR(*holder);
            PyErr_SetString(PyExc_TypeError, "dumps() did not return bytes");
        }
        if (*holder != NULL) {
            *json = PyBytes_AS_STRING(*holder);
            *length = PyBytes_GET_SIZE(*holder);
        }
    }
    else {
        PyObject *args[2] = {properties, ZERO};
        PyObject *parts = PyObject_Vectorcall(self->chunks, args, 2, NULL);
        if (parts != NULL) {
            *holder = PyUnicode_Join(EMPTY_STR, parts);
            Py_DECREF(parts);
        }
        if (*holder != NULL) {
            *json = PyUnicode_AsUTF8AndSize(*holder, length);
            if (*json == NULL) {
                Py_CLEAR(*holder);
            }
        }
    }
    if (*holder != NULL) {
        if (*length >= 2 && (*json)[*length - 1] == '}') {
            return 1;
        }
        Py_CLEAR(*holder);
        return 0;
    }
    /* What encode_within catches: the encoders' refusals, a lone surrogate, a cycle. */
    if (PyErr_ExceptionMatches(PyExc_TypeError) || PyErr_ExceptionMatches(PyExc_ValueError) ||
        PyErr_ExceptionMatches(PyExc_RecursionError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* ---- properties of the plain JSON types, written here --------------------------------- */

/* Most properties are str, int, float, bool and None in dicts and lists. Those are written
   here as the json package writes them (floats by repr, str by encode_basestring's rules),
   without a call into an encoder: for a small dict that call costs more than the writing.
   Anything else (a subclass, a date, a non-str key, NaN, an int beyond 64 bits, a lone
   surrogate, nesting past MAX_DEPTH) makes the whole dict go to the encoders, which know
   the default hook and the repairs. Writing calls no Python code, so no other thread can
   change a dict or list while it is read. */

#define MAX_DEPTH 32
#define INLINE_BUFFER 1024

typedef struct {
    char *data;
    Py_ssize_t length;
    Py_ssize_t capacity;
    char inline_data[INLINE_BUFFER];
} Buffer;

static void buffer_init(Buffer *buffer) {
    buffer->data = buffer->inline_data;
    buffer->length = 0;
    buffer->capacity = INLINE_BUFFER;
}

static void buffer_free(Buffer *buffer) {
    if (buffer->data != buffer->inline_data) {
        PyMem_Free(buffer->data);
    }
    buffer_init(buffer);
}

/* Room for `more` bytes at the end; -1 with MemoryError. */
static int buffer_reserve(Buffer *buffer, Py_ssize_t more) {
    if (buffer->capacity - buffer->length >= more) {
        return 0;
    }
    if (more > PY_SSIZE_T_MAX / 2 - buffer->length) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t capacity = 2 * (buffer->length + more);
    char *data;
    if (buffer->data == buffer->inline_data) {
        data = PyMem_Malloc((size_t)capacity);
        if (data != NULL) {
            memcpy(data, buffer->data, (size_t)buffer->length);
        }
    }
    else {
        data = PyMem_Realloc(buffer->data, (size_t)capacity);
    }
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    buffer->data = data;
    buffer->capacity = capacity;
    return 0;
}

static int buffer_put(Buffer *buffer, const char *text, Py_ssize_t length) {
    if (buffer_reserve(buffer, length) < 0) {
        return -1;
    }
    memcpy(buffer->data + buffer->length, text, (size_t)length);
    buffer->length += length;
    return 0;
}

/* Each writer: 1 written, 0 refused (the encoders must do it), -1 with an exception. */
static int write_str(Buffer *buffer, PyObject *text) {
    PyObject *holder;
    Py_ssize_t length;
    const unsigned char *utf8 = utf8_of(text, &length, &holder);
    if (utf8 == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    int written = -1;
    Py_ssize_t quoted = quoted_length(utf8, length);
    if (buffer_reserve(buffer, quoted) == 0) {
        write_quoted(buffer->data + buffer->length, utf8, length, quoted);
        buffer->length += quoted;
        written = 1;
    }
    Py_XDECREF(holder);
    return written;
}

static int write_int(Buffer *buffer, PyObject *value) {
    int overflow;
    long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow) {
        return 0;
    }
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    char digits[24];
    char *end = digits + sizeof(digits), *at = end;
    unsigned long long magnitude = number < 0 ? 0ull - (unsigned long long)number
                                              : (unsigned long long)number;
    do {
        *--at = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (number < 0) {
        *--at = '-';
    }
    return buffer_put(buffer, at, end - at) < 0 ? -1 : 1;
}

/* Most floats in events are short decimals (prices, ratios, durations). For a float of
   at most MAX_FRACTION digits after the point, between 1e-4 and 1e15 (where repr writes no
   exponent), the first k for which round(x * 10^k) / 10^k == x gives repr's own digits:
   under 2^50 the product is off by less than 0.375 from that integer, and the division,
   correctly rounded, is float() of the decimal. Other floats take repr's own call. */
#define MAX_FRACTION 7
static const double POW10[MAX_FRACTION + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7};
static const long long IPOW10[MAX_FRACTION + 1] = {1, 10, 100, 1000, 10000, 100000, 1000000,
                                                   10000000};

static int write_short_decimal(Buffer *buffer, double number) {
    double magnitude = fabs(number);
    if (!(magnitude >= 1e-4 && magnitude < 1e15)) {
        return 0;
    }
    for (int k = 0; k <= MAX_FRACTION; k++) {
        double scaled = round(magnitude * POW10[k]);
        if (scaled >= 0x1p50) {
            return 0;
        }
        if (scaled / POW10[k] != magnitude) {
            continue;
        }
        long long digits = (long long)scaled;
        long long whole = digits / IPOW10[k], fraction = digits % IPOW10[k];
        char text[40];
        char *end = text + sizeof(text), *at = end;
        if (k == 0) {
            *--at = '0';
        }
        for (int i = 0; i < k; i++, fraction /= 10) {
            *--at = (char)('0' + fraction % 10);
        }
        *--at = '.';
        do {
            *--at = (char)('0' + whole % 10);
            whole /= 10;
        } while (whole);
        if (number < 0) {
            *--at = '-';
        }
        return buffer_put(buffer, at, end - at) < 0 ? -1 : 1;
    }
    return 0;
}

static int write_float(Buffer *buffer, PyObject *value) {
    double number = PyFloat_AS_DOUBLE(value);
    if (!Py_IS_FINITE(number)) {
        return 0; /* NaN and infinities: the encoders write what the protocol allows */
    }
    int written = write_short_decimal(buffer, number);
    if (written != 0) {
        return written;
    }
    /* float.__repr__'s own call, which is what the json package writes */
    char *text = PyOS_double_to_string(number, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL) {
        return -1;
    }
    written = buffer_put(buffer, text, (Py_ssize_t)strlen(text)) < 0 ? -1 : 1;
    PyMem_Free(text);
    return written;
}

static int write_value(Buffer *buffer, PyObject *value, int depth);

static int write_dict(Buffer *buffer, PyObject *dict, int depth) {
    Py_ssize_t position = 0;
    PyObject *key, *value;
    int first = 1, written;
    if (buffer_put(buffer, "{", 1) < 0) {
        return -1;
    }
    while (PyDict_Next(dict, &position, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            return 0;
        }
        if ((!first && buffer_put(buffer, ",", 1) < 0)) {
            return -1;
        }
        first = 0;
        if ((written = write_str(buffer, key)) != 1) {
            return written;
        }
        if (buffer_put(buffer, ":", 1) < 0) {
            return -1;
        }
        if ((written = write_value(buffer, value, depth + 1)) != 1) {
            return written;
        }
    }
    return buffer_put(buffer, "}", 1) < 0 ? -1 : 1;
}

static int write_items(Buffer *buffer, PyObject *const *items, Py_ssize_t count, int depth) {
    if (buffer_put(buffer, "[", 1) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (i && buffer_put(buffer, ",", 1) < 0) {
            return -1;
        }
        int written = write_value(buffer, items[i], depth + 1);
        if (written != 1) {
            return written;
        }
    }
    return buffer_put(buffer, "]", 1) < 0 ? -1 : 1;
}

static int write_value(Buffer *buffer, PyObject *value, int depth) {
    if (PyUnicode_CheckExact(value)) {
        return write_str(buffer, value);
    }
    if (value == Py_True) {
        return buffer_put(buffer, "true", 4) < 0 ? -1 : 1;
    }
    if (value == Py_False) {
        return buffer_put(buffer, "false", 5) < 0 ? -1 : 1;
    }
    if (value == Py_None) {
        return buffer_put(buffer, "null", 4) < 0 ? -1 : 1;
    }
    if (PyLong_CheckExact(value)) {
        return write_int(buffer, value);
    }
    if (PyFloat_CheckExact(value)) {
        return write_float(buffer, value);
    }
    if (depth >= MAX_DEPTH) {
        return 0; /* or a cycle: the encoders' repair path replaces it */
    }
    if (PyDict_CheckExact(value)) {
        return write_dict(buffer, value, depth);
    }
    if (PyList_CheckExact(value)) {
        return write_items(buffer, PySequence_Fast_ITEMS(value), PyList_GET_SIZE(value), depth);
    }
    if (PyTuple_CheckExact(value)) {
        return write_items(buffer, PySequence_Fast_ITEMS(value), PyTuple_GET_SIZE(value), depth);
    }
    return 0;
}

static const char PART_UUID[] = "{\"type\":\"capture\",\"uuid\":\"";
static const char PART_TIMESTAMP[] = "\",\"timestamp\":\"";
static const char PART_EVENT[] = "\",\"event\":";
static const char PART_DISTINCT_ID[] = ",\"distinct_id\":";
static const char PART_PROPERTIES[] = ",\"groups\":{},\"properties\":";

#define PUT(out, part) (memcpy((out), (part), sizeof(part) - 1), (out) + sizeof(part) - 1)

/* The message, or NULL: with an exception set for an error, without one for a capture
   that the general path must build. */
static PyObject *encode_common(CaptureEncoder *self, PyObject *distinct_id, PyObject *event,
                               PyObject *properties) {
    if (!valid_id(distinct_id, self->max_id_length)) {
        return NULL;
    }
    int has_properties = 0;
    if (properties != Py_None) {
        if (!PyDict_CheckExact(properties)) {
            return NULL;
        }
        int has_lib = PyDict_Contains(properties, LIB_KEY);
        if (has_lib == 0) {
            has_lib = PyDict_Contains(properties, LIB_VERSION_KEY);
        }
        if (has_lib != 0) {
            return NULL; /* set by the caller (or an error): the general path decides */
        }
        has_properties = PyDict_GET_SIZE(properties) > 0;
    }
    PyObject *event_json = quoted_event(self, event);
    if (event_json == NULL) {
        return NULL;
    }
    PyObject *id_holder = NULL, *json_holder = NULL, *data = NULL, *result = NULL;
    Buffer buffer;
    buffer_init(&buffer);
    Py_ssize_t id_length = 0, json_length = 0;
    const char *json = NULL;
    const unsigned char *id_text = utf8_of(distinct_id, &id_length, &id_holder);
    if (id_text == NULL) {
        goto done;
    }
    if (has_properties) {
        int written = write_dict(&buffer, properties, 0);
        if (written == 1) {
            json = buffer.data;
            json_length = buffer.length;
        }
        else if (written < 0 ||
                 encode_properties(self, properties, &json_holder, &json, &json_length) <= 0) {
            goto done;
        }
    }
    char uuid[UUID_LENGTH], stamp[STAMP_LENGTH];
    if (make_ids(uuid, stamp) < 0) {
        goto done;
    }
    Py_ssize_t id_quoted = quoted_length(id_text, id_length);
    Py_ssize_t ending = has_properties ? json_length - 1 + PyBytes_GET_SIZE(self->tail)
                                       : PyBytes_GET_SIZE(self->only_lib);
    Py_ssize_t total = (Py_ssize_t)(sizeof(PART_UUID) + sizeof(PART_TIMESTAMP) +
                                    sizeof(PART_EVENT) + sizeof(PART_DISTINCT_ID) +
                                    sizeof(PART_PROPERTIES) - 5) +
                       UUID_LENGTH + STAMP_LENGTH + PyBytes_GET_SIZE(event_json) +
                       id_quoted + ending;
    data = PyBytes_FromStringAndSize(NULL, total);
    if (data == NULL) {
        goto done;
    }
    char *out = PUT(PyBytes_AS_STRING(data), PART_UUID);
    memcpy(out, uuid, UUID_LENGTH);
    out = PUT(out + UUID_LENGTH, PART_TIMESTAMP);
    memcpy(out, stamp, STAMP_LENGTH);
    out = PUT(out + STAMP_LENGTH, PART_EVENT);
    memcpy(out, PyBytes_AS_STRING(event_json), (size_t)PyBytes_GET_SIZE(event_json));
    out = PUT(out + PyBytes_GET_SIZE(event_json), PART_DISTINCT_ID);
    out = write_quoted(out, id_text, id_length, id_quoted);
    out = PUT(out, PART_PROPERTIES);
    if (has_properties) {
        memcpy(out, json, (size_t)(json_length - 1));
        out += json_length - 1;
        memcpy(out, PyBytes_AS_STRING(self->tail), (size_t)PyBytes_GET_SIZE(self->tail));
    }
    else {
        memcpy(out, PyBytes_AS_STRING(self->only_lib), (size_t)PyBytes_GET_SIZE(self->only_lib));
    }
    PyObject *uuid_str = ascii_str(uuid, UUID_LENGTH);
    if (uuid_str != NULL) {
        result = PyTuple_Pack(2, uuid_str, data);
        Py_DECREF(uuid_str);
    }
done:
    /* A lone surrogate in the id is the general path's to repair. */
    if (result == NULL && PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear();
    }
    Py_XDECREF(data);
    buffer_free(&buffer);
    Py_XDECREF(json_holder);
    Py_XDECREF(id_holder);
    Py_DECREF(event_json);
    return result;
}

/* encode(distinct_id, event, properties, groups, timestamp, uuid) -> (uuid, bytes), as
   _capture.encode_capture; raises what it raises. */
static PyObject *CaptureEncoder_encode(CaptureEncoder *self, PyObject *const *args,
                                       Py_ssize_t nargs) {
    if (nargs == 6 && args[3] == Py_None && args[4] == Py_None && args[5] == Py_None) {
        PyObject *message = encode_common(self, args[0], args[1], args[2]);
        if (message != NULL || PyErr_Occurred()) {
            return message;
        }
    }
    return PyObject_Vectorcall(self->general, args, (size_t)nargs, NULL);
}

static PyObject *CaptureEncoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"general", "dumps", "default", "option", "chunks", "tail",
                               "only_lib", "max_id_length", "max_known_events", NULL};
    PyObject *general, *dumps, *default_hook, *option, *chunks, *tail, *only_lib;
    Py_ssize_t max_id_length, max_known_events;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOSSnn:CaptureEncoder", keywords,
                                     &general, &dumps, &default_hook, &option, &chunks, &tail,
                                     &only_lib, &max_id_length, &max_known_events)) {
        return NULL;
    }
    if (dumps == Py_None && chunks == Py_None) {
        PyErr_SetString(PyExc_ValueError, "CaptureEncoder needs dumps or chunks");
        return NULL;
    }
    CaptureEncoder *self = (CaptureEncoder *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->known_events = PyDict_New();
    if (self->known_events == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->general = Py_NewRef(general);
    self->dumps = Py_NewRef(dumps);
    self->default_hook = Py_NewRef(default_hook);
    self->option = Py_NewRef(option);
    self->chunks = Py_NewRef(chunks);
    self->tail = Py_NewRef(tail);
    self->only_lib = Py_NewRef(only_lib);
    self->max_id_length = max_id_length;
    self->max_known_events = max_known_events;
    return (PyObject *)self;
}

static int CaptureEncoder_traverse(CaptureEncoder *self, visitproc visit, void *arg) {
    Py_VISIT(self->general);
    Py_VISIT(self->dumps);
    Py_VISIT(self->default_hook);
    Py_VISIT(self->option);
    Py_VISIT(self->chunks);
    Py_VISIT(self->known_events);
    return 0;
}

static int CaptureEncoder_clear(CaptureEncoder *self) {
    Py_CLEAR(self->general);
    Py_CLEAR(self->dumps);
    Py_CLEAR(self->default_hook);
    Py_CLEAR(self->option);
    Py_CLEAR(self->chunks);
    Py_CLEAR(self->tail);
    Py_CLEAR(self->only_lib);
    Py_CLEAR(self->known_events);
    return 0;
}

static void CaptureEncoder_dealloc(CaptureEncoder *self) {
    PyObject_GC_UnTrack(self);
    CaptureEncoder_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *CaptureEncoder_known_events(CaptureEncoder *self, void *closure) {
    return PyDictProxy_New(self->known_events);
}

static PyMethodDef CaptureEncoder_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))CaptureEncoder_encode, METH_FASTCALL,
     "encode(distinct_id, event, properties, groups, timestamp, uuid) -> (uuid, bytes)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef CaptureEncoder_getset[] = {
    {"known_events", (getter)CaptureEncoder_known_events, NULL,
     "event names already checked, and their JSON", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CaptureEncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "oakdata._speedups.CaptureEncoder",
    .tp_basicsize = sizeof(CaptureEncoder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "capture()'s common case, compiled; see oakdata/_speedups.c",
    .tp_new = CaptureEncoder_new,
    .tp_traverse = (traverseproc)CaptureEncoder_traverse,
    .tp_clear = (inquiry)CaptureEncoder_clear,
    .tp_dealloc = (destructor)CaptureEncoder_dealloc,
    .tp_methods = CaptureEncoder_methods,
    .tp_getset = CaptureEncoder_getset,
};

/* ---- the module ------------------------------------------------------------------------ */

static PyMethodDef module_methods[] = {
    {"configure_ids", configure_ids, METH_VARARGS,
     "configure_ids(clock, random_tail, utc_second): what new_ids() reads and draws from"},
    {"new_ids", new_ids, METH_NOARGS, "new_ids() -> (uuid, timestamp), as _ids.new_ids"},
    {"reseed", reseed, METH_NOARGS, "reseed(): in a forked child, draw a new id tail"},
    {"in_main_interpreter", in_main_interpreter, METH_NOARGS,
     "in_main_interpreter() -> whether this is the interpreter the module may serve"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "oakdata._speedups",
    "capture()'s common case and the message ids, compiled; see _speedups.c", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    LIB_KEY = PyUnicode_InternFromString("$lib");
    LIB_VERSION_KEY = PyUnicode_InternFromString("$lib_version");
    EMPTY_STR = PyUnicode_New(0, 0);
    ZERO = PyLong_FromLong(0);
    fill_extra();
    if (LIB_KEY == NULL || LIB_VERSION_KEY == NULL || EMPTY_STR == NULL || ZERO == NULL ||
        PyType_Ready(&CaptureEncoderType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        return NULL;
    }
    /* _compiled.API_VERSION: raised whenever what Python calls here changes, so that a stale
       build (an editable install not rebuilt since) is left unused rather than misused. */
    if (PyModule_AddIntConstant(module, "API_VERSION", 1) < 0 ||
        PyModule_AddObjectRef(module, "CaptureEncoder", (PyObject *)&CaptureEncoderType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
