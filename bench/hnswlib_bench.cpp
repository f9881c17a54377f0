// bench/hnswlib_bench.cpp: hnswlib compiled for this CPU, the bar vecseg's HNSW is held to.
//
// bench/run builds it with `g++ -O3 -march=native` into bench/out (never committed), so the
// header-only library from Debian's libhnswlib-dev picks its AVX-512 or AVX kernels, which
// Debian's generic python3-hnswlib cannot. Two commands, each its own process so the peak
// memory of the build and of the searches are measured apart, as for vec-seal and vec-query:
//
//   hnswlib_bench build METRIC TRAIN.fvecs M EF_CONSTRUCTION THREADS INDEX
//     adds every row in parallel (hnswlib's ParallelFor pattern: the first row alone, then
//     THREADS threads taking rows from a shared counter), saves INDEX, prints one TSV line:
//     build seconds, peak RSS kB, index bytes. The build time counts the graph only.
//   hnswlib_bench search METRIC INDEX TEST.fvecs NEIGHBORS.ivecs DISTANCES.fvecs K RUNS SECS MIN THREADS EF...
//     for each thread count in THREADS (comma-separated) and each EF: searches every query,
//     best of RUNS runs (fewer once the runs of a point add up to SECS seconds, more, up to
//     10, while they add up to less than MIN seconds), and prints
//     `threads ef recall qps seconds` (TSV). One thread means one
//     query at a time, one after another; more means the queries split over a ParallelFor
//     (batched). Last line: `rss` and the process's peak RSS kB.
//
// METRIC is euclidean (L2Space) or angular: rows and queries are scaled to unit length
// first and searched with InnerProductSpace (1 - dot), as hnswlib's own "cosine" space does.
//
// Recall@K counts a returned row as a hit when it is among the true neighbours at most as far
// as the K-th (ties are not misses), the rule peers.py uses for every system.
#include <hnswlib/hnswlib.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string &msg)
{
    std::fprintf(stderr, "hnswlib_bench: %s\n", msg.c_str());
    std::exit(1);
}

// Reads an fvecs or ivecs file (each row: int32 dimension, then dim 4-byte values).
template <typename T> std::vector<T> read_vecs(const std::string &path, size_t &rows, size_t &dim)
{
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f)
        die("'" + path + "': cannot open");
    int32_t d = 0;
    if (std::fread(&d, 4, 1, f) != 1 || d <= 0)
        die("'" + path + "': no first row");
    std::fseek(f, 0, SEEK_END);
    long bytes = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    size_t row_bytes = 4 + 4 * (size_t)d;
    if (bytes % (long)row_bytes != 0)
        die("'" + path + "': size is not a whole number of rows");
    dim = (size_t)d;
    rows = (size_t)bytes / row_bytes;
    std::vector<T> out(rows * dim);
    for (size_t r = 0; r < rows; r++) {
        int32_t rd;
        if (std::fread(&rd, 4, 1, f) != 1 || rd != d || std::fread(&out[r * dim], 4, dim, f) != dim)
            die("'" + path + "': row " + std::to_string(r) + " is damaged");
    }
    std::fclose(f);
    return out;
}

// The space of METRIC; for angular, rows (n x dim) are normalised in place.
hnswlib::SpaceInterface<float> *space_for(const std::string &metric, size_t dim, std::vector<float> &rows)
{
    if (metric == "euclidean")
        return new hnswlib::L2Space(dim);
    if (metric != "angular")
        die("metric '" + metric + "': euclidean or angular");
    for (size_t i = 0; i < rows.size(); i += dim) {
        double s = 0;
        for (size_t j = 0; j < dim; j++)
            s += (double)rows[i + j] * rows[i + j];
        float f = s > 0 ? (float)(1 / std::sqrt(s)) : 0.0f;
        for (size_t j = 0; j < dim; j++)
            rows[i + j] *= f;
    }
    return new hnswlib::InnerProductSpace(dim);
}

double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

long peak_rss_kb()
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

// Runs fn(i) for i in [start, end) on nthreads threads taking indices from a shared counter,
// as ParallelFor in hnswlib's examples does.
template <class F> void parallel_for(size_t start, size_t end, size_t nthreads, F fn)
{
    if (nthreads <= 1) {
        for (size_t i = start; i < end; i++)
            fn(i);
        return;
    }
    std::atomic<size_t> next(start);
    std::vector<std::thread> pool;
    for (size_t t = 0; t < nthreads; t++)
        pool.emplace_back([&] {
            for (size_t i; (i = next.fetch_add(1)) < end;)
                fn(i);
        });
    for (auto &th : pool)
        th.join();
}

int build(int argc, char **argv)
{
    if (argc != 8)
        die("usage: hnswlib_bench build METRIC TRAIN.fvecs M EF_CONSTRUCTION THREADS INDEX");
    argv++;
    size_t n, dim;
    std::vector<float> train = read_vecs<float>(argv[2], n, dim);
    size_t M = std::strtoul(argv[3], nullptr, 10), efc = std::strtoul(argv[4], nullptr, 10);
    size_t threads = std::strtoul(argv[5], nullptr, 10);
    hnswlib::SpaceInterface<float> *space = space_for(argv[1], dim, train);
    double t0 = now();
    hnswlib::HierarchicalNSW<float> index(space, n, M, efc);
    index.addPoint(&train[0], 0);
    parallel_for(1, n, threads, [&](size_t i) { index.addPoint(&train[i * dim], i); });
    double secs = now() - t0;
    index.saveIndex(argv[6]);
    struct stat st;
    if (stat(argv[6], &st) != 0)
        die(std::string("'") + argv[6] + "': not written");
    std::printf("%.3f\t%ld\t%lld\n", secs, peak_rss_kb(), (long long)st.st_size);
    return 0;
}

int search(int argc, char **argv)
{
    if (argc < 13)
        die("usage: hnswlib_bench search METRIC INDEX TEST.fvecs NEIGHBORS.ivecs DISTANCES.fvecs K RUNS SECS MIN "
            "THREADS EF...");
    const char *metric = argv[2];
    argv++;
    argc--;
    size_t nq, dim, tq, tk, dq, dk;
    std::vector<float> test = read_vecs<float>(argv[3], nq, dim);
    std::vector<int32_t> tn = read_vecs<int32_t>(argv[4], tq, tk);
    std::vector<float> td = read_vecs<float>(argv[5], dq, dk);
    size_t k = std::strtoul(argv[6], nullptr, 10);
    int runs = std::atoi(argv[7]);
    double cap = std::atof(argv[8]), min_secs = std::atof(argv[9]);
    int max_runs = std::max(runs, 10);
    if (tq != nq || dq != nq || dk != tk || k == 0 || k > tk || runs < 1)
        die("queries, neighbours and distances do not match, or K > truth columns");
    std::vector<size_t> threads;
    for (char *s = argv[10]; *s;) {
        threads.push_back(std::strtoul(s, &s, 10));
        if (*s == ',')
            s++;
    }
    hnswlib::SpaceInterface<float> *space = space_for(metric, dim, test);
    hnswlib::HierarchicalNSW<float> index(space, argv[2]);

    std::vector<int64_t> ids(nq * k);
    for (size_t nt : threads)
        for (int a = 11; a < argc; a++) {
            size_t ef = std::strtoul(argv[a], nullptr, 10);
            index.setEf(ef);
            double best = 1e300, spent = 0;
            for (int r = 0; r == 0 || (r < max_runs && spent < cap && (r < runs || spent < min_secs)); r++) {
                double t0 = now();
                parallel_for(0, nq, nt, [&](size_t q) {
                    auto res = index.searchKnn(&test[q * dim], k);
                    for (size_t j = k; j-- > 0;) {
                        if (res.empty()) {
                            ids[q * k + j] = -1;
                            continue;
                        }
                        ids[q * k + j] = (int64_t)res.top().second;
                        res.pop();
                    }
                });
                best = std::min(best, now() - t0);
                spent += now() - t0;
            }
            size_t hits = 0;
            for (size_t q = 0; q < nq; q++) {
                float lim = td[q * tk + k - 1], tol = lim + 1e-4f * std::fabs(lim) + 1e-6f;
                for (size_t j = 0; j < k; j++)
                    for (size_t t = 0; t < tk && td[q * tk + t] <= tol; t++)
                        if (ids[q * k + j] >= 0 && tn[q * tk + t] == ids[q * k + j]) {
                            hits++;
                            break;
                        }
            }
            std::printf("%zu\t%zu\t%.4f\t%.1f\t%.4f\n", nt, ef, (double)hits / (double)(nq * k), nq / best,
                        best);
            std::fflush(stdout);
        }
    std::printf("rss\t%ld\n", peak_rss_kb());
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc >= 2 && std::strcmp(argv[1], "build") == 0)
        return build(argc, argv);
    if (argc >= 2 && std::strcmp(argv[1], "search") == 0)
        return search(argc, argv);
    die("usage: hnswlib_bench build|search ...");
}
