// The benchmark's view of the BSC kernels (zeroshot/bsc.hpp).
#include "direct_lpj.hpp"
#include "model_kernels.hpp"
#include "zeroshot/bounds.hpp"
#include "zeroshot/bsc.hpp"

namespace zs::bench {

namespace {

class BscKernels final : public EvaluatorKernels<BscEvaluator, BscStats, BscParams> {
public:
    BscKernels(const Problem& p, const DenseInputs& dense)
        : EvaluatorKernels(p, dense.WtY.data(), dense.y2.data(), dense.WtW.data(), p.pi.data(), p.sigma2, p.H) {}

    void accumulate(const std::uint64_t* K, const double* lpj, int S) override {
        stats_ = bsc_accumulate(p_.Y.data(), p_.N, p_.D, p_.H, K, lpj, S);
    }
    void m_step() override { params_ = bsc_m_step(stats_, static_cast<double>(p_.N), p_.W.data(), p_.D, p_.H, false); }

    std::vector<double> statistics() const override {
        std::vector<double> all(stats_.A);
        all.insert(all.end(), stats_.B.begin(), stats_.B.end());
        all.push_back(stats_.lse);
        all.push_back(stats_.y2);
        return all;
    }
    std::vector<double> parameters() const override {
        std::vector<double> all(params_.W);
        all.insert(all.end(), params_.pi.begin(), params_.pi.end());
        all.push_back(params_.sigma2);
        return all;
    }
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
