// The benchmark's view of the SSSC kernels (zeroshot/model/sssc.hpp).
#include "direct_lpj.hpp"
#include "model_kernels.hpp"
#include "zeroshot/base/bounds.hpp"
#include "zeroshot/model/sssc.hpp"

namespace zs::bench {

namespace {

SsscParams generating_params(const Problem& p) {
    SsscParams params(p.D, p.H);
    params.W = p.W;
    params.pi = p.pi;
    params.mu = p.mu;
    params.psi = p.psi;
    params.sigma2 = p.sigma2;
    return params;
}

class SsscKernels final : public EvaluatorKernels<Sssc> {
public:
    SsscKernels(const Problem& p, const DenseInputs& dense) : EvaluatorKernels(p, dense, generating_params(p)) {}

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
