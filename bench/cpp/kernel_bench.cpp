// zeroshot_kernel_bench: times the compiled E-step and M-step kernels on synthetic data, without Python,
// and fails (exit 1) unless their results are right and the same at every thread count.
// Per thread count and repeat: the dense products (W^T Y, W^T W), the EVO E-step from the same warmed-up
// states (restored before each repeat, not timed), the sufficient statistics and the M-step.
#include <algorithm>
#include <exception>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "checks.hpp"
#include "dense.hpp"
#include "digest.hpp"
#include "model_kernels.hpp"
#include "options.hpp"
#include "report.hpp"
#include "synthetic.hpp"
#include "timing.hpp"
#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/base/parallel.hpp"
#include "zeroshot/loops/states.hpp"

namespace zs::bench {

namespace {

// The threads an OpenMP region actually gets (1 without OpenMP).
int team_size() {
    int team = 1;
#ifdef _OPENMP
#pragma omp parallel
    {
#pragma omp single
        team = omp_get_num_threads();
    }
#endif
    return team;
}

// Per-phase wall times of the repeats at one thread count.
struct PhaseTimes {
    std::vector<double> wty, wtw, e_step, accumulate, m_step;
};

// Bit-exact fingerprints of one thread count's results.
struct Digests {
    std::uint64_t states = 0, statistics = 0, parameters = 0;
    bool operator==(const Digests& o) const {
        return states == o.states && statistics == o.statistics && parameters == o.parameters;
    }
    std::string describe() const {
        return format("states %016llx, statistics %016llx, parameters %016llx", static_cast<unsigned long long>(states),
                      static_cast<unsigned long long>(statistics), static_cast<unsigned long long>(parameters));
    }
};

class Benchmark {
public:
    explicit Benchmark(const Options& o) : o_(o), n_words_(words_for(o.H)) {}

    int run() {
        std::vector<int> threads = o_.threads;
        if (threads.empty()) threads.push_back(get_num_threads());
        describe_setup();
        prepare(*std::max_element(threads.begin(), threads.end()));
        std::vector<Digests> digests;
        for (int t : threads) digests.push_back(time_thread_count(t, threads.front()));
        add_reference_run(threads, digests);
        check_results();
        check_identical(threads, digests);
        return report_.finish();
    }

private:
    void describe_setup() {
        report_.line("zeroshot kernel benchmark (bench/cpp)");
        report_.line(build_description());
        std::string dense = std::string("dense products: ") + dense_backend();
#ifdef ZEROSHOT_BENCH_CBLAS
        dense += ", threads as the BLAS library sets them (e.g. OPENBLAS_NUM_THREADS, MKL_NUM_THREADS)";
#elif defined(_OPENMP)
        dense += ", OpenMP over blocks of 64 rows";
#else
        dense += ", serial";
#endif
        report_.line(dense);
        const double N = static_cast<double>(o_.N), D = o_.D, H = o_.H;
        report_.line(
            format("flops counted: W^T Y 2*N*D*H = %.4g, W^T W 2*D*H^2 = %.4g; "
                   "||y_n||^2 computed once, not timed",
                   2.0 * N * D * H, 2.0 * D * H * H));
        report_.line(format("problem: model %s, N=%zu D=%d H=%d S=%d, seed %llu, %d repeats, %d warm-up E-steps",
                            o_.model_name(), o_.N, o_.D, o_.H, o_.S, static_cast<unsigned long long>(o_.seed),
                            o_.repeats, o_.warmup));
        const EvoConfig& e = o_.evo;
        const char* mutation = e.mutation == Mutation::sparseflip ? "sparseflip"
                               : e.mutation == Mutation::randflip ? "randflip"
                                                                  : "no mutation";
        report_.line(format(
            "evo: %d parents, %d children per parent, %d generations, %s selection, %s, %s: "
            "%lld proposed children per patch",
            e.n_parents, e.n_children, e.n_generations, e.selection == Selection::fitness ? "fitness" : "uniform",
            mutation, e.crossover ? "crossover" : "no crossover", static_cast<long long>(e.children_per_step())));
    }

    // Data, dense inputs, warmed-up states and the count of children an E-step evaluates.
    void prepare(int warmup_threads) {
        set_num_threads(warmup_threads);
        warmup_threads = get_num_threads();
        const double t_data = seconds_of([&] { problem_ = make_problem(o_); });
        report_.line(format(
            "data: y = W (s*z) + %.3g eps, W_dh ~ N(0,1), pi = %.3g/H (%.2f active latents per code), "
            "z = %s; generated in %.2f s",
            o_.noise, o_.active, problem_.mean_active, o_.model == ModelKind::bsc ? "1" : "N(mu=1, psi=0.25)", t_data));
        const std::size_t NH = o_.N * static_cast<std::size_t>(o_.H), HH = static_cast<std::size_t>(o_.H) * o_.H;
        dense_.y2.resize(o_.N);
        dense_.WtY.resize(NH);
        dense_.WtW.resize(HH);
        squared_norms(problem_.Y.data(), o_.N, o_.D, dense_.y2.data());
        matmul(problem_.Y.data(), problem_.W.data(), dense_.WtY.data(), o_.N, o_.D, o_.H);
        gram(problem_.W.data(), o_.D, o_.H, dense_.WtW.data());
        wty_out_.resize(NH);  // the timed products write here: the kernels' inputs stay fixed
        wtw_out_.resize(HH);
        kernels_ = make_kernels(o_.model, problem_, dense_);

        const std::size_t NS = o_.N * static_cast<std::size_t>(o_.S);
        K_.resize(NS * n_words_);
        lpj_.resize(NS);
        init_states(K_.data(), o_.N, o_.H, o_.S, 1.0 / o_.H, o_.seed, 0);
        plant_codes(problem_, K_.data(), o_.S);
        const double t_warm = seconds_of([&] {
            kernels_->evaluate(K_.data(), lpj_.data(), o_.S);
            for (int epoch = 0; epoch < o_.warmup; ++epoch)
                kernels_->e_step(o_.evo, K_.data(), lpj_.data(), o_.S, o_.seed, static_cast<std::uint64_t>(epoch));
        });
        K_start_ = K_;
        lpj_start_ = lpj_;
        restore();
        const std::int64_t evaluations =
            kernels_->count_evaluations(o_.evo, K_.data(), lpj_.data(), o_.S, o_.seed, timed_epoch());
        children_ = evaluations - static_cast<std::int64_t>(NS);
        report_.line(
            format("states: K_n starts as the all-zero state, Bernoulli(1/H) draws and the generating "
                   "code; after the warm-up (%.2f s at threads %d) %.2f active latents per kept state, "
                   "%.2f in each patch's best; %.1f states per patch within 30 of the best lpj",
                   t_warm, warmup_threads, mean_active(false), mean_active(true), non_negligible()));
        report_.line(
            format("E-step work: N*S = %.4g kept states re-evaluated, %.4g distinct children evaluated "
                   "(%.1f per patch)",
                   static_cast<double>(NS), static_cast<double>(children_),
                   static_cast<double>(children_) / static_cast<double>(o_.N)));
    }

    Digests time_thread_count(int threads, int first_threads) {
        set_num_threads(threads);
        const int used = get_num_threads();
        PhaseTimes t;
        for (int r = 0; r < o_.repeats; ++r) {
            t.wty.push_back(
                seconds_of([&] { matmul(problem_.Y.data(), problem_.W.data(), wty_out_.data(), o_.N, o_.D, o_.H); }));
            t.wtw.push_back(seconds_of([&] { gram(problem_.W.data(), o_.D, o_.H, wtw_out_.data()); }));
            restore();
            t.e_step.push_back(seconds_of(
                [&] { replaced_ = kernels_->e_step(o_.evo, K_.data(), lpj_.data(), o_.S, o_.seed, timed_epoch()); }));
            t.accumulate.push_back(seconds_of([&] { kernels_->accumulate(K_.data(), lpj_.data(), o_.S); }));
            t.m_step.push_back(seconds_of([&] { kernels_->m_step(); }));
        }
        report_.line(format("threads %d (omp_get_max_threads %d, team size %d)%s, median of %d repeats:", threads, used,
                            team_size(), used < threads ? ", fewer than asked" : "", o_.repeats));
        const double N = static_cast<double>(o_.N), D = o_.D, H = o_.H, NS = N * o_.S;
        const double wty = median(t.wty), wtw = median(t.wtw), e = median(t.e_step), acc = median(t.accumulate),
                     m = median(t.m_step), epoch = wty + wtw + e + acc + m;
        report_.line(format("  W^T Y       %9.4f s  %8.2f GFLOP/s", wty, 2.0 * N * D * H / wty * 1e-9));
        report_.line(format("  W^T W       %9.4f s  %8.2f GFLOP/s", wtw, 2.0 * D * H * H / wtw * 1e-9));
        report_.line(
            format("  E-step      %9.4f s  %8.3f M patch-states/s  %8.3f M children/s  %8.3f M lpj/s  "
                   "(%lld states replaced)",
                   e, NS / e * 1e-6, static_cast<double>(children_) / e * 1e-6,
                   (NS + static_cast<double>(children_)) / e * 1e-6, static_cast<long long>(replaced_)));
        report_.line(format("  accumulate  %9.4f s  %8.3f M patch-states/s", acc, NS / acc * 1e-6));
        report_.line(format("  M-step      %9.4f s", m));
        std::string speedup;
        if (threads == first_threads)
            first_epoch_ = epoch;
        else
            speedup = format("  speed-up %.2fx over threads %d", first_epoch_ / epoch, first_threads);
        report_.line(format("  epoch       %9.4f s  (sum of the medians)%s", epoch, speedup.c_str()));
        const Digests d = fingerprint();
        report_.line("  digests     " + d.describe());
        return d;
    }

    void check_results() {
        const auto patches = sample_patches(o_.N, o_.check_patches);
        const Outcome dense = check_dense(problem_, wty_out_, wtw_out_, patches);
        report_.check("dense products W^T Y (sampled patches) and W^T W equal plain dot products", dense.ok,
                      dense.detail);
        const Outcome finite = check_finite(lpj_);
        report_.check("lpj of all kept states finite", finite.ok, finite.detail);
        const Outcome direct = check_direct_lpj(*kernels_, K_.data(), lpj_.data(), o_.H, o_.S, patches);
        report_.check("lpj of kept states equal a direct recomputation from y and W", direct.ok, direct.detail);
        const Outcome states = check_states(K_.data(), o_.H, o_.S, patches);
        report_.check("kept states distinct and within H", states.ok, states.detail);
        const Outcome lse = check_lse_not_lowered(lpj_start_, lpj_, o_.S);
        report_.check("E-step lowered no patch's log-sum-exp of lpj", lse.ok, lse.detail);
        const Outcome stats = check_finite(kernels_->statistics());
        report_.check("statistics finite", stats.ok, stats.detail);
        const Outcome params = check_finite(kernels_->parameters());
        report_.check("M-step parameters finite and within bounds", params.ok && kernels_->parameters_in_bounds(),
                      params.detail + format("; ||W_new - W||/||W|| = %.3g, sigma2 %.4g (data %.4g)",
                                             kernels_->dictionary_change(), kernels_->new_sigma2(), problem_.sigma2));
    }

    // With a single thread count, one untimed run at another (1, or 2 after 1), for the identity check.
    void add_reference_run(std::vector<int>& counts, std::vector<Digests>& digests) {
        if (!has_openmp() || std::any_of(counts.begin(), counts.end(), [&](int t) { return t != counts.front(); }))
            return;
        const int other = counts.front() == 1 ? 2 : 1;
        set_num_threads(other);
        restore();
        replaced_ = kernels_->e_step(o_.evo, K_.data(), lpj_.data(), o_.S, o_.seed, timed_epoch());
        kernels_->accumulate(K_.data(), lpj_.data(), o_.S);
        kernels_->m_step();
        counts.push_back(other);
        digests.push_back(fingerprint());
        report_.line(format("threads %d (untimed, for the identity check): digests ", other) +
                     digests.back().describe());
    }

    // The results are bit-identical at every thread count.
    void check_identical(const std::vector<int>& counts, const std::vector<Digests>& digests) {
        const std::string what = "identical states, lpj, statistics and parameters";
        if (!has_openmp()) {
            report_.skip(what + " at every thread count", "built without OpenMP: one thread only");
            return;
        }
        bool same = true;
        std::string list;
        for (std::size_t i = 0; i < counts.size(); ++i) {
            same = same && digests[i] == digests.front();
            list += (i ? ", " : "") + std::to_string(counts[i]);
        }
        report_.check(what + " at threads " + list, same, "the digests above");
    }

    Digests fingerprint() const {
        Digest states, statistics, parameters;
        states.add(K_);
        states.add(lpj_);
        states.add(&replaced_, sizeof replaced_);
        statistics.add(kernels_->statistics());
        parameters.add(kernels_->parameters());
        return {states.value(), statistics.value(), parameters.value()};
    }

    void restore() {
        std::copy(K_start_.begin(), K_start_.end(), K_.begin());
        std::copy(lpj_start_.begin(), lpj_start_.end(), lpj_.begin());
    }
    std::uint64_t timed_epoch() const { return static_cast<std::uint64_t>(o_.warmup); }

    // Mean active latents per kept state, or of each patch's highest-lpj state.
    double mean_active(bool best_only) const {
        double total = 0.0;
        for (std::size_t n = 0; n < o_.N; ++n) {
            const double* l = lpj_.data() + n * o_.S;
            const int best = static_cast<int>(std::max_element(l, l + o_.S) - l);
            for (int s = best_only ? best : 0; s < (best_only ? best + 1 : o_.S); ++s)
                total += popcount(K_.data() + (n * o_.S + s) * n_words_, n_words_);
        }
        return total / static_cast<double>(o_.N * (best_only ? 1 : o_.S));
    }

    // States per patch whose posterior weight the statistics do not skip (lpj within 30 of the best).
    double non_negligible() const {
        std::size_t count = 0;
        for (std::size_t n = 0; n < o_.N; ++n) {
            const double* l = lpj_.data() + n * o_.S;
            const double top = *std::max_element(l, l + o_.S);
            count += static_cast<std::size_t>(std::count_if(l, l + o_.S, [top](double v) { return v - top >= -30.0; }));
        }
        return static_cast<double>(count) / static_cast<double>(o_.N);
    }

    const Options o_;
    const int n_words_;
    Report report_;
    Problem problem_;
    DenseInputs dense_;
    std::vector<double> wty_out_, wtw_out_;
    std::unique_ptr<ModelKernels> kernels_;
    std::vector<std::uint64_t> K_, K_start_;
    std::vector<double> lpj_, lpj_start_;
    std::int64_t children_ = 0, replaced_ = 0;
    double first_epoch_ = 0.0;
};

}  // namespace

}  // namespace zs::bench

int main(int argc, char** argv) {
    zs::bench::Options options;
    try {
        bool help = false;
        options = zs::bench::parse_options(argc, argv, help);
        if (help) {
            std::cout << zs::bench::usage();
            return 0;
        }
    } catch (const std::invalid_argument& e) {
        std::cerr << "error: " << e.what() << "\n(see --help)\n";
        return 2;
    }
    try {
        return zs::bench::Benchmark(options).run();
    } catch (const std::exception& e) {
        std::cout << "error: " << e.what() << "\nresult: FAIL (a kernel or the benchmark threw)" << std::endl;
        return 1;
    }
}
