/**
 * Tessera's own fork-join thread pool for the C kernels' parallel loops, as TVM and Halide
 * have theirs. The printer still writes `#pragma omp parallel for`, and GCC still outlines the
 * loop body and calls `GOMP_parallel`; the kernel is linked with `--wrap` so that call (and
 * `omp_get_thread_num`/`omp_get_num_threads`, which the outlined body uses to find its share
 * of a static schedule) lands here instead of in libgomp.
 *
 * Why not libgomp: passive waiting (the only policy that survives other libraries' thread
 * pools on few cores) puts every worker to sleep between loops, and on a VM the woken worker
 * is often placed on the caller's vCPU, so both halves of a 2-thread loop run one after the
 * other: /proc/self/task/N/schedstat showed both threads on one vCPU and a 512³ matmul at
 * 2.0–2.5 ms instead of 1.1–1.2 for whole runs of calls. libgomp's spinning instead keeps the
 * cores from other libraries (a 256³ matmul took 2.25 ms against 0.35 next to tfjs-wasm and
 * OpenBLAS). These workers spin for a short while after each loop, calling sched_yield so that
 * any runnable thread gets the core first, and then sleep on a futex: a burst of calls (a model
 * inference, a benchmark's samples) finds them awake, and an idle process costs nothing.
 *
 * The pool is one shared object per cache directory and compiler, built (and cached, and
 * checked) by compileC like any kernel and linked by every kernel library by its absolute
 * path, so a process has one pool however many kernels it loads. One parallel
 * loop runs at a time: a kernel called while another holds the pool (from a Worker, or a
 * nonblocking call) runs its loop on its own thread. `OMP_NUM_THREADS` sets the team size
 * (default: the CPUs this process may use); `TESSERA_SPIN_US` the spin (default 1000 µs).
 * Kernels with users' C sources (te.extern) keep libgomp: those sources may use any OpenMP.
 */
export const POOL_SOURCE = `/* Tessera's fork-join pool; see lib/codegen/c/pool.ts. */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int tsr_threads;                  /* team size, the caller included */
static _Atomic unsigned tsr_gen;         /* bumped by the caller to start a loop */
static _Atomic unsigned tsr_done;        /* set to tsr_gen by the last worker to finish */
static _Atomic int tsr_pending;          /* workers yet to finish this loop */
static _Atomic int tsr_idle, tsr_caller_idle; /* threads asleep on tsr_gen, on tsr_done */
static void (*tsr_fn)(void*);
static void* tsr_data;
static int tsr_team;
static double tsr_spin_ns = 1e6;
static pthread_mutex_t tsr_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t tsr_once = PTHREAD_ONCE_INIT;
static __thread int tsr_id, tsr_size = 1;

int __wrap_omp_get_thread_num(void) { return tsr_id; }
int __wrap_omp_get_num_threads(void) { return tsr_size; }

static double tsr_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return 1e9 * (double)t.tv_sec + (double)t.tv_nsec;
}

/* Waits until *word != old and returns the new value: spins (pausing, and yielding the CPU to
   anything runnable) for tsr_spin_ns, then sleeps on a futex, counted in *asleep. */
static unsigned tsr_await(_Atomic unsigned* word, unsigned old, _Atomic int* asleep) {
  unsigned now;
  double t0 = tsr_now_ns();
  for (int i = 1;; i++) {
    if ((now = atomic_load(word)) != old) return now;
    if (i % 16 != 0) {
      __builtin_ia32_pause();
    } else {
      if (tsr_now_ns() - t0 > tsr_spin_ns) break;
      sched_yield();
    }
  }
  for (;;) {
    atomic_fetch_add(asleep, 1);
    if (atomic_load(word) == old) syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, old, NULL, NULL, 0);
    atomic_fetch_sub(asleep, 1);
    if ((now = atomic_load(word)) != old) return now;
  }
}

static void tsr_wake(_Atomic unsigned* word) {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void* tsr_worker(void* arg) {
  int id = (int)(long)arg;
  unsigned seen = 0;
  for (;;) {
    seen = tsr_await(&tsr_gen, seen, &tsr_idle);
    if (id < tsr_team) {
      tsr_id = id, tsr_size = tsr_team;
      tsr_fn(tsr_data);
      tsr_id = 0, tsr_size = 1;
    }
    if (atomic_fetch_sub(&tsr_pending, 1) == 1) {
      atomic_store(&tsr_done, seen);
      if (atomic_load(&tsr_caller_idle) > 0) tsr_wake(&tsr_done);
    }
  }
  return NULL;
}

static void tsr_start(void) {
  const char* spin = getenv("TESSERA_SPIN_US");
  if (spin != NULL && atof(spin) >= 0) tsr_spin_ns = 1e3 * atof(spin);
  cpu_set_t cpus;
  int n = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  const char* want = getenv("OMP_NUM_THREADS");
  if (want != NULL && atoi(want) > 0) n = atoi(want);
  tsr_threads = 1;
  for (int id = 1; id < n; id++) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int failed = pthread_create(&t, &attr, tsr_worker, (void*)(long)id);
    pthread_attr_destroy(&attr);
    if (failed) break;
    tsr_threads++;
  }
}

/* GCC's entry point for '#pragma omp parallel': runs fn(data) on each thread of the team. */
void __wrap_GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags) {
  (void)flags;
  pthread_once(&tsr_once, tsr_start);
  int n = num_threads > 0 && (int)num_threads < tsr_threads ? (int)num_threads : tsr_threads;
  if (n <= 1 || tsr_size > 1 || pthread_mutex_trylock(&tsr_lock) != 0) {
    int id = tsr_id, size = tsr_size;
    tsr_id = 0, tsr_size = 1;
    fn(data);
    tsr_id = id, tsr_size = size;
    return;
  }
  tsr_fn = fn, tsr_data = data, tsr_team = n;
  atomic_store(&tsr_pending, tsr_threads - 1);
  unsigned gen = atomic_fetch_add(&tsr_gen, 1) + 1;
  if (atomic_load(&tsr_idle) > 0) tsr_wake(&tsr_gen);
  tsr_size = n;
  fn(data);
  tsr_size = 1;
  tsr_await(&tsr_done, gen - 1, &tsr_caller_idle);
  pthread_mutex_unlock(&tsr_lock);
}
`;

/** The symbols a kernel's object refers to that the pool provides, for `-Wl,--wrap`. */
const WRAPPED = ["GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads"] as const;

/** Link arguments that route a kernel's OpenMP calls to the pool library at `path`. */
export function poolLinkArgs(path: string): string[] {
  return [...WRAPPED.map((s) => `-Wl,--wrap=${s}`), path];
}
