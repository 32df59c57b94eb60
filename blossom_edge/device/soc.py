"""The SoC's marketing name, from the code names Android properties and device trees carry.

A phone's kernel and properties name its chip by part number or board platform (`SM8550`,
`kalama`); people, and the results store's device ids, know it as "Snapdragon 8 Gen 2".
"""

from __future__ import annotations

# Qualcomm board-platform code names → marketing names, for phones without ro.soc.model.
_QCOM_PLATFORMS = {
    "sun": "Snapdragon 8 Elite", "pineapple": "Snapdragon 8 Gen 3", "kalama": "Snapdragon 8 Gen 2",
    "taro": "Snapdragon 8 Gen 1", "lahaina": "Snapdragon 888", "kona": "Snapdragon 865",
    "msmnile": "Snapdragon 855", "sdm845": "Snapdragon 845", "lito": "Snapdragon 765G",
}
_SOC_MODELS = {
    "SM8750": "Snapdragon 8 Elite", "SM8650": "Snapdragon 8 Gen 3", "SM8550": "Snapdragon 8 Gen 2",
    "SM8450": "Snapdragon 8 Gen 1", "SM8350": "Snapdragon 888", "SM8250": "Snapdragon 865",
    "MT6989": "Dimensity 9300", "MT6985": "Dimensity 9200", "MT6983": "Dimensity 9000",
    "MT6895": "Dimensity 8100", "GS301": "Google Tensor G3", "GS201": "Google Tensor G2",
}


def soc_name(props: dict[str, str], compatible: list[str], common: dict[str, str]) -> str | None:
    """The best name the sources give, most specific first: Android's SoC model, its board
    platform, the device tree's most generic `compatible` entry, then cpuinfo's `Hardware`."""
    model = props.get("ro.soc.model")
    if model:
        name = _SOC_MODELS.get(model.upper())
        maker = props.get("ro.soc.manufacturer", "")
        return f"{name} ({model})" if name else f"{maker} {model}".strip()
    for key in ("ro.board.platform", "ro.hardware.chipname", "ro.chipname"):
        value = props.get(key)
        if value:
            name = _QCOM_PLATFORMS.get(value.lower()) or _SOC_MODELS.get(value.upper())
            return f"{name} ({value})" if name else value
    if compatible:
        return compatible[-1]
    return common.get("Hardware")
