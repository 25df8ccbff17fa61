// The benchmark's view of the SSSC kernels (zeroshot/sssc.hpp).
#include "direct_lpj.hpp"
#include "model_kernels.hpp"
#include "zeroshot/bounds.hpp"
#include "zeroshot/sssc.hpp"

namespace zs::bench {

namespace {

class SsscKernels final : public EvaluatorKernels<SsscEvaluator, SsscStats, SsscParams> {
public:
    SsscKernels(const Problem& p, const DenseInputs& dense)
        : EvaluatorKernels(p, dense.WtY.data(), dense.y2.data(), dense.WtW.data(), p.pi.data(), p.mu.data(),
                           p.psi.data(), p.sigma2, p.H) {}

    void accumulate(const std::uint64_t* K, const double* lpj, int S) override {
        stats_ = sssc_accumulate(model_, p_.Y.data(), p_.N, p_.D, K, lpj, S);
    }
    void m_step() override {
        params_ =
            sssc_m_step(stats_, static_cast<double>(p_.N), p_.W.data(), p_.mu.data(), p_.psi.data(), p_.D, p_.H, false);
    }

    std::vector<double> statistics() const override {
        std::vector<double> all(stats_.A);
        for (const auto* v : {&stats_.B, &stats_.x_sum, &stats_.s_sum}) all.insert(all.end(), v->begin(), v->end());
        all.push_back(stats_.lse);
        all.push_back(stats_.y2);
        return all;
    }
    std::vector<double> parameters() const override {
        std::vector<double> all(params_.W);
        for (const auto* v : {&params_.pi, &params_.mu, &params_.psi}) all.insert(all.end(), v->begin(), v->end());
        all.push_back(params_.sigma2);
        return all;
    }
    bool parameters_in_bounds() const override {
        for (double pi : params_.pi)
            if (!(pi >= bounds::pi_min && pi <= 1.0 - bounds::pi_min)) return false;
        for (double psi : params_.psi)
            if (!(psi >= bounds::psi_min)) return false;
        return params_.sigma2 >= bounds::sigma2_min;
    }

    double direct_lpj(std::size_t n, const std::int32_t* active, int k, double& scale) const override {
        return sssc_direct_lpj(p_.Y.data() + n * p_.D, p_.W.data(), p_.D, p_.H, p_.pi.data(), p_.mu.data(),
                               p_.psi.data(), p_.sigma2, active, k, scratch_, scale);
    }

private:
    mutable std::vector<double> scratch_;  // direct_lpj's D x D covariance (called from one thread)
};

}  // namespace

std::unique_ptr<ModelKernels> make_sssc_kernels(const Problem& problem, const DenseInputs& dense) {
    return std::make_unique<SsscKernels>(problem, dense);
}

}  // namespace zs::bench
