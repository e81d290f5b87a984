/* oakdata._speedups: the message ids, as _ids.new_ids makes them. See _speedups.c. */
#include <string.h>
#include <time.h>

#include "_speedups.h"

#define HEAD_LENGTH 15   /* xxxxxxxx-xxxx-7 */
#define TAIL_LENGTH 18   /* -vxxx-xxxxxxxxxxxx */
#define SECOND_LENGTH 19 /* YYYY-MM-DDTHH:MM:SS */

const char oak_hex[] = "0123456789abcdef";

static struct {
    PyObject *clock;       /* time.time_ns, or a stand-in (tests, the instruction counter) */
    int native_clock;      /* clock is time.time_ns: read CLOCK_REALTIME here instead */
    PyObject *random_tail; /* _ids._random_tail: a fresh "-vxxx-xxxxxxxxxxxx" */
    PyObject *utc_second;  /* _ids._utc_second: "YYYY-MM-DDTHH:MM:SS" for a Unix second */
    long long millisecond; /* the one head, tail and stamp below belong to; -1 for none */
    long long second;      /* the one date_time belongs to */
    char head[HEAD_LENGTH];
    char tail[TAIL_LENGTH];
    char date_time[SECOND_LENGTH];
    unsigned counter; /* the 12-bit counter, as _ids._counter */
    unsigned made;    /* ids made with this tail: at 4096 the counter would come round */
} ids = {NULL, 0, NULL, NULL, -1, -1, {0}, {0}, {0}, 0, 0};

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
        ids.head[i] = oak_hex[high & 0xF];
    }
    ids.head[8] = '-';
    for (int i = 12; i >= 9; i--, low >>= 4) {
        ids.head[i] = oak_hex[low & 0xF];
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

/* The time in ns: time.time_ns's own clock read here (a call into Python and an int
   object cost more than the reading), or the configured stand-in. */
static int read_clock(long long *now_ns) {
#ifdef CLOCK_REALTIME
    struct timespec reading;
    if (ids.native_clock && clock_gettime(CLOCK_REALTIME, &reading) == 0) {
        *now_ns = (long long)reading.tv_sec * 1000000000LL + reading.tv_nsec;
        return 0;
    }
#endif
    PyObject *now = PyObject_CallNoArgs(ids.clock);
    if (now == NULL) {
        return -1;
    }
    *now_ns = PyLong_AsLongLong(now);
    Py_DECREF(now);
    return (*now_ns == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* A fresh uuid and timestamp into the two buffers; -1 with an exception set. */
int oak_make_ids(char *uuid, char *stamp) {
    if (ids.clock == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure_ids() was not called");
        return -1;
    }
    long long now_ns;
    if (read_clock(&now_ns) < 0) {
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
    uuid[15] = oak_hex[counter >> 8];
    uuid[16] = oak_hex[(counter >> 4) & 0xF];
    uuid[17] = oak_hex[counter & 0xF];
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

PyObject *oak_ascii_str(const char *data, Py_ssize_t length) {
    PyObject *str = PyUnicode_New(length, 127);
    if (str != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(str), data, (size_t)length);
    }
    return str;
}

PyObject *oak_new_ids(PyObject *module, PyObject *unused) {
    char uuid[UUID_LENGTH], stamp[STAMP_LENGTH];
    if (oak_make_ids(uuid, stamp) < 0) {
        return NULL;
    }
    PyObject *uuid_str = oak_ascii_str(uuid, UUID_LENGTH);
    if (uuid_str == NULL) {
        return NULL;
    }
    PyObject *stamp_str = oak_ascii_str(stamp, STAMP_LENGTH);
    if (stamp_str == NULL) {
        Py_DECREF(uuid_str);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, uuid_str, stamp_str);
    Py_DECREF(uuid_str);
    Py_DECREF(stamp_str);
    return pair;
}

PyObject *oak_configure_ids(PyObject *module, PyObject *args) {
    PyObject *clock, *random_tail, *utc_second;
    if (!PyArg_ParseTuple(args, "OOO:configure_ids", &clock, &random_tail, &utc_second)) {
        return NULL;
    }
    PyObject *time_module = PyImport_ImportModule("time");
    if (time_module == NULL) {
        return NULL;
    }
    PyObject *time_ns = PyObject_GetAttrString(time_module, "time_ns");
    Py_DECREF(time_module);
    if (time_ns == NULL) {
        return NULL;
    }
    int native_clock = clock == time_ns;
    Py_DECREF(time_ns);
    /* Replaced in one step; the old callables are let go of after (which may run Python). */
    PyObject *old_clock = ids.clock, *old_tail = ids.random_tail, *old_second = ids.utc_second;
    ids.clock = Py_NewRef(clock);
    ids.native_clock = native_clock;
    ids.random_tail = Py_NewRef(random_tail);
    ids.utc_second = Py_NewRef(utc_second);
    ids.millisecond = -1;
    ids.second = -1;
    Py_XDECREF(old_clock);
    Py_XDECREF(old_tail);
    Py_XDECREF(old_second);
    Py_RETURN_NONE;
}

/* The ids' state is one per process, and its callables belong to the interpreter that
   configured it: only the main interpreter uses this module (in a subinterpreter, mod_wsgi's
   say, _compiled falls back to the pure Python form). */
PyObject *oak_in_main_interpreter(PyObject *module, PyObject *unused) {
    return PyBool_FromLong(PyInterpreterState_Get() == PyInterpreterState_Main());
}

/* In a forked child: the next id draws a new tail, so parent and child never share one. */
PyObject *oak_reseed(PyObject *module, PyObject *unused) {
    ids.millisecond = -1;
    Py_RETURN_NONE;
}
