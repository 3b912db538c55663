"""Products (`id` of the caller's choosing optional), entitlement features and their attachments to
products (POST|GET /v1/products/{id}/features)."""

from __future__ import annotations

from ..forms import as_bool, as_list, merge_metadata, optional_string, page, required_string
from ..state import STATE, StripeError, missing_param, new_id, no_such, now

PRODUCT_STRINGS = (("description", 40000), ("statement_descriptor", 22), ("tax_code", 5000),
                   ("unit_label", 12), ("url", 5000))


def product_fields(p: dict) -> dict:
    """The product fields `p` sets (create and update share them)."""
    fields = {field: optional_string(p, field, length) for field, length in PRODUCT_STRINGS if field in p}
    if "name" in p:
        fields["name"] = required_string(p, "name", 5000)
    for flag in ("active", "shippable"):
        if p.get(flag) is not None:
            fields[flag] = as_bool(p, flag)
    images = as_list(p, "images")
    if images is not None:
        fields["images"] = images
    features = as_list(p, "marketing_features")
    if features is not None:
        fields["marketing_features"] = [{"name": required_string(f if isinstance(f, dict) else {}, "name", 80,
                                                                 f"marketing_features[{i}][name]")}
                                        for i, f in enumerate(features)]
    return fields


def retrieve_product(p, id_, param: str = "id", status: int = 404):
    if id_ not in STATE.products:
        raise no_such("product", id_, param, status)
    return STATE.products[id_]


def create_product(p):
    id_ = p.get("id")
    if id_ is not None:
        id_ = required_string(p, "id", 5000)
        if id_ in STATE.products:
            raise StripeError(400, "Product already exists.", code="resource_already_exists", param="id")
    if p.get("default_price_data") is not None:
        raise StripeError(400, "The fake does not support `default_price_data`: create the price with "
                               "POST /v1/prices.", param="default_price_data")
    fields = product_fields(p)
    if "name" not in fields:
        raise missing_param("name")
    stamp = now()
    product = {"id": id_ or new_id("prod_"), "object": "product", "active": True, "created": stamp,
               "default_price": None, "description": None, "images": [], "livemode": False,
               "marketing_features": [], "metadata": merge_metadata({}, p.get("metadata")), "name": None,
               "package_dimensions": None, "shippable": None, "statement_descriptor": None, "tax_code": None,
               "unit_label": None, "updated": stamp, "url": None}
    product.update(fields)
    STATE.products[product["id"]] = product
    return product


def update_product(p, id_):
    product = retrieve_product(p, id_)
    fields = product_fields(p)
    metadata = merge_metadata(product["metadata"], p.get("metadata"))
    product.update(fields, metadata=metadata, updated=now())
    return product


def list_products(p):
    active, shippable, ids = as_bool(p, "active"), as_bool(p, "shippable"), as_list(p, "ids")

    def keep(x):
        return (active in (None, x["active"]) and shippable in (None, x["shippable"])
                and (ids is None or x["id"] in ids) and p.get("url") in (None, x["url"]))

    return page("/v1/products", list(reversed(STATE.products.values())), p, "product", keep)


def retrieve_feature(p, id_, param: str = "id", status: int = 404):
    if id_ not in STATE.features:
        raise no_such("entitlements.feature", id_, param, status)
    return STATE.features[id_]


def create_feature(p):
    name, key = required_string(p, "name", 80), required_string(p, "lookup_key", 80)
    if any(f["lookup_key"] == key for f in STATE.features.values()):
        raise StripeError(400, f"A feature with lookup_key `{key}` already exists.", code="resource_already_exists",
                          param="lookup_key")
    feature = {"id": new_id("feat_test_", 24), "object": "entitlements.feature", "active": True,
               "livemode": False, "lookup_key": key, "metadata": merge_metadata({}, p.get("metadata")),
               "name": name}
    STATE.features[feature["id"]] = feature
    return feature


def update_feature(p, id_):
    feature = retrieve_feature(p, id_)
    name, active = required_string(p, "name", 80) if "name" in p else None, as_bool(p, "active")
    feature["metadata"] = merge_metadata(feature["metadata"], p.get("metadata"))
    if name is not None:
        feature["name"] = name
    if active is not None:
        feature["active"] = active
    return feature


def list_features(p):
    """Archived (inactive) features are left out unless `archived=true` asks for them alone."""
    archived = bool(as_bool(p, "archived"))

    def keep(f):
        return f["active"] != archived and p.get("lookup_key") in (None, f["lookup_key"])

    return page("/v1/entitlements/features", list(reversed(STATE.features.values())), p, "entitlements.feature",
                keep)


def product_feature_object(attachment: dict) -> dict:
    return {"id": attachment["id"], "object": "product_feature",
            "entitlement_feature": STATE.features[attachment["feature"]], "livemode": False}


def attach_product_feature(p, product_id):
    retrieve_product(p, product_id)
    if p.get("entitlement_feature") is None:
        raise missing_param("entitlement_feature")
    feature = retrieve_feature({}, p["entitlement_feature"], "entitlement_feature", 400)
    if not feature["active"]:
        raise StripeError(400, f"The feature `{feature['id']}` is archived: archived features cannot be attached "
                               "to products.", param="entitlement_feature")
    if any(a["product"] == product_id and a["feature"] == feature["id"] for a in STATE.product_features.values()):
        raise StripeError(400, f"The feature `{feature['id']}` is already attached to the product "
                               f"`{product_id}`.", code="resource_already_exists", param="entitlement_feature")
    attachment = {"id": new_id("prodft_", 24), "product": product_id, "feature": feature["id"]}
    STATE.product_features[attachment["id"]] = attachment
    return product_feature_object(attachment)


def product_attachment(product_id: str, id_: str) -> dict:
    retrieve_product({}, product_id)
    attachment = STATE.product_features.get(id_)
    if attachment is None or attachment["product"] != product_id:
        raise no_such("product_feature", id_)
    return attachment


def retrieve_product_feature(p, product_id, id_):
    return product_feature_object(product_attachment(product_id, id_))


def detach_product_feature(p, product_id, id_):
    del STATE.product_features[product_attachment(product_id, id_)["id"]]
    return {"id": id_, "object": "product_feature", "deleted": True}


def list_product_features(p, product_id):
    retrieve_product(p, product_id)
    attachments = [product_feature_object(a) for a in reversed(STATE.product_features.values())
                   if a["product"] == product_id]
    return page(f"/v1/products/{product_id}/features", attachments, p, "product_feature")
