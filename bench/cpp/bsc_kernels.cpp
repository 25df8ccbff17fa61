// The benchmark's view of the BSC kernels (zeroshot/model/bsc.hpp).
#include "direct_lpj.hpp"
#include "model_kernels.hpp"
#include "zeroshot/base/bounds.hpp"
#include "zeroshot/model/bsc.hpp"

namespace zs::bench {

namespace {

BscParams generating_params(const Problem& p) {
    BscParams params(p.D, p.H);
    params.W = p.W;
    params.pi = p.pi;
    params.sigma2 = p.sigma2;
    return params;
}

class BscKernels final : public EvaluatorKernels<Bsc> {
public:
    BscKernels(const Problem& p, const DenseInputs& dense) : EvaluatorKernels(p, dense, generating_params(p)) {}

    bool parameters_in_bounds() const override {
        for (double pi : params_.pi)
            if (!(pi >= bounds::pi_min && pi <= 1.0 - bounds::pi_min)) return false;
        return params_.sigma2 >= bounds::sigma2_min;
    }

    double direct_lpj(std::size_t n, const std::int32_t* active, int k, double& scale) const override {
        return bsc_direct_lpj(p_.Y.data() + n * p_.D, p_.W.data(), p_.D, p_.H, p_.pi.data(), p_.sigma2, active, k,
                              scale);
    }
};

}  // namespace

std::unique_ptr<ModelKernels> make_bsc_kernels(const Problem& problem, const DenseInputs& dense) {
    return std::make_unique<BscKernels>(problem, dense);
}

}  // namespace zs::bench
