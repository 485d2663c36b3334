"""SNS-CF's Table 3: SiamRPN++ alone, the direct combination with a correlation filter (conv5 only, no
per-layer fusion) and SNS-CF, each trained by its config (``make train CONFIG=snscf/<variant>``).

The paper's numbers: DP / OS / CLE on OTB-2015, EAO / accuracy / robustness / AO on VOT-2018, FPS on a GTX 1080 Ti.
Its Table 3 gives no OTB numbers for SiamRPN++ and none on VOT for the CF tracker; its "6.00" accuracy for
SiamRPN++ is read as 0.600 (Table 2). The correlation-filter column (HCF on VGG-19: DP 83.7, OS 65.5, CLE 22.8,
10.4 FPS) is a different tracker and not part of this suite.
"""
from experiments.ablation import AblationColumn, AblationPlan

PLAN = AblationPlan(
    title="SNS-CF, Table 3",
    columns=(
        AblationColumn("SiamRPN++", "snscf/table3_siamrpnpp",
                       paper=(("eao", 0.414), ("accuracy", 0.600), ("robustness", 0.234), ("ao", 0.489))),
        AblationColumn("Direct combination", "snscf/table3_direct",
                       paper=(("dp", 83.3), ("os", 65.0), ("cle", 21.3), ("eao", 0.420), ("accuracy", 0.557),
                              ("robustness", 0.228), ("ao", 0.393), ("fps", 34.2))),
        AblationColumn("SNS-CF", "snscf/r50_l234_acf",
                       paper=(("dp", 84.0), ("os", 65.7), ("cle", 20.2), ("eao", 0.423), ("accuracy", 0.587),
                              ("robustness", 0.223), ("ao", 0.487), ("fps", 35.1))),
    ),
    note="paper: OTB-2015 (DP, OS, CLE), VOT-2018 (EAO, A, R, AO), FPS on a GTX 1080 Ti; its Table 3 leaves "
         "SiamRPN++'s OTB numbers and FPS out (nan here)",
)
