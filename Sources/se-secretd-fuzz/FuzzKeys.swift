// Fixed inputs of the fuzz targets: keys, image binding and a set of
// requests built with the codec's RequestBuilder. Everything is
// deterministic (fixed keys, IVs, protection keys and values) except the
// signatures themselves, so that seeds written by one process verify,
// decrypt and pin the same in another. These keys are fuzzing fixtures,
// published here on purpose: never use them for anything else.
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import RequestBuilding

enum FuzzKeys {
    /// An EC P-521 key from a label (scalar: 0x00 ‖ SHA-512(label) ‖ 0x01 < the group order).
    static func p521(_ label: String) -> PrivateKey {
        var s: [UInt8] = [0] + Digest.sha512(Array("se-secretd fuzz fixture: \(label)".utf8)) + [1]
        return try! PrivateKey.p521(scalar: SecureBytes(consuming: &s))
    }

    /// The simulated host (its keyslot is in every seed request).
    static let host = p521("host")
    static let otherHost = p521("other host")
    static let customer = p521("customer")
    static let ecSigner = p521("tenant signer")
    static let rsa2048 = try! PrivateKey.load(Array(rsa2048PEM.utf8))
    static let rsa3072 = try! PrivateKey.load(Array(rsa3072PEM.utf8))

    static let rsa2048PEM = """
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCLgMFvt421nyHQ
eGTG5w7M244TJxMX9hl41bURZKwfAypSofGa0ris4HUl7LPf3UGyIRPb4CyFjqzB
W8NqElHrWlyjqK/sH6lhs5CHj1YuxFtUUvAt2v/SrUxPGM6gE73isHaCxFvOCblO
/QQo9avAQHn9gQx0mcV2yV3aX+K6DD/uFBcN9IJN3fe71+ULl3kgELLJ+GYU7Ukl
rvTUFoqzoxOqc20yZhknMPMJUP7AhMDY3W+11ffVA8twRHUivhdxHmxrM/5IJp5b
ya4gjekpn+1IBI9J8FA5C054oxMn0Y2Eatlo6Zq8XYULSNL5GIJTgeS2RDzvOttR
LLu2rcyxAgMBAAECggEAE87vyJbx8IbcxI7/0k1nSNfpG9eZyrZ3ZfTEbeiTVyD6
LrsPhSokLmn9wGmUnfY7GJnBSeCSOdGpPphyzjo1NxvA2T0/46GYScb3QARumpvn
kvjm4T/+QNI6KmYNmuXKuehQH5/VoFM5pJlhMJa3sUgGemRLWjgmdYhAwxwH495Z
P3BGkckdlNe/WyfEUuzMLSo0AbZ9Z8jk+fSl0aZ7r5YhAxuzQ2HTwvy5aVWQebVz
U+zUvH3Y+phEkfDxo++igdycWql4zhotX7Ra0yUoDtDeGDGdbuLcF+o3kJezX2Zb
7DYAfUzIK1Ue8YscHpwFJhUMXJwg0Uk4D2+Qt3cpJQKBgQC964pL0OwZjUNlP7RH
o4w8sgm+nrRVOE2Ow1xwGWqRON1LeupnJL2uOro7ubDBL6ERpjh8XcfteLDN7VVn
/tZaEd9w5/sjo85YhFGfeuTWGfs2r5zmYU5reY0ys4k1JWoIP0I/ogcBaKqUJNFW
xerGtSRR820aZGw4QaHjELUlfQKBgQC8CnzrR2KeIuwCfLakVyuM7LopgY68+ENb
QlFsnY7aW2xdhDm1l3IKWvpomor5Rabktv8xN/LR/NSjyEIfPPkQzX7XODUbVFNy
C+H7sVwKje+4rXG30ayaMhHPPiFblRLibGyUNis7k7hhYHGtFDSftsLoTjnuh8Co
x0xI3fwaRQKBgH/oZInPOVO0KhHEp7wfz9EI7zssU7OZadKejGELHRSVQaUWMUwq
GH2BG/AhjYNueoISerR3zLCIujrWftC9dsvOgbfe5OsJ5W0EIJzR/dCcSu53s6oN
Gu2TPZ9J/zyF6DWJtSp6C1HNliST71ELlqUhVkbDNVWzEJeKzGbK19VZAoGATQQW
qd6w+4feFh6yR5kUU0HZ9YoExk0AeW4uH0hg6/op5htz73Y51RfyG8nARdxLQL3a
w3Pg1jSxeutYeabldAZWfxucVLcy/jDzu7ymsAP2PTN8sgcEpJsBRFp0GyhxdZ9m
0UVma55TFD8GEBeIfinCppbzj0i2leoaynVw/ekCgYBpdxyC4VFusxIa2k2hEYqG
ZWaHpfCBuJIvHqOckVdQAWzxs6C2AxnSvxUacBtLUNxsBw0W9iOnrnAHdCexwL9l
yVNljI9rlSmsWZHWZfrxz46ROz7iOU14MXKE0WbjIHEHLSObTa6AH3NkBeqOL5Zg
vmejGUXgMO+QH5TmXqFw8A==
-----END PRIVATE KEY-----
"""

    static let rsa3072PEM = """
-----BEGIN PRIVATE KEY-----
MIIG/gIBADANBgkqhkiG9w0BAQEFAASCBugwggbkAgEAAoIBgQC5d4ZCLYdPKmFb
egkDJaPTOMcCzCWz1JLMa9FD8r1/wMH5g3iQRl5ekdnRyXu19NEWjySGL1/t7crg
5ul5dWm4jIOc1GvCuht2IC12CmrTp8MWFGiLF4Z1E23huqOU51tkjH1zmNZIpR7P
JEfXPfYOA2WsSPTWPX2+PcyviFLZGzBa8ooC4PhiFhLDzO3i+bB8vq1/dghlSS45
J/AUn4eeZPsvPHQbT/KyNqcD8u6RVMrLUjx39dWgclnPCBLsQk4EST2ecIE6h2+c
3BXa0vxXHeVnLXEYdezYXINVSbgPEF4jMY8DhS+CP/WRYnkoAHp36Jli6Okvy8S8
pBd5IHc1Awi2nokAN+I8T4F3by3LN5WuRdN0DVBdIBDpTdAr00dc1pEPCoG9LWEw
81KjyDPcISnT8NCJzJq6Rq0Ie5QuhFbzp9qadWUW1MNFMRn+q/dcRoqLbIfUzolL
aRVlhiMZLtVuRHU3lW2eyRe8ipuVcl7jOEDlvrkPVvLgKKE7Ff8CAwEAAQKCAYAW
QCMw1FJ76ms0tM7Y/E6LvC+QA9rwGKwl7zdzbe9TINaEr0OrF24h7WCS/Rek7EKb
cL/ig1OAcXtaAQn4ot/0npL5oThua7J4uQKLO1O2odVTVE54hXGBoTuZDbGrXxhF
V1+Dm031+C1aj5E43vuikcDEaxpIi6cGyFZCptm9pzflaVyqXMAf0GMe73qItQj5
5kxdUtVOBXoQrFxutPbpx1alQ5zwW+aTf+AIpr/9Wo1b2Dld8PXYom9o2aCfjJKn
wFElSOc9yhOeSszr1a+Xh2ea2SFYimY3bvNiD86Dcp/k6FcirpYd9niSliawpxbT
gige0AEzDZJatHAejDWiQ/4w2SAlITwCVopk7oVDnKQEcPXoIY34IJ2RNDV3edOW
YC5NyeibBXp7ypM9lyVWHY7vvr8cwcg/FTJDk0S4gFYqW9sh38ld4r8IqSeOw0Vx
5GYDhTAlj3qpIgfKtL/swOjyYWnJC69zybDTYgEeemkbcKfSEI++txItTZ/h39EC
gcEA+ps5REYsBOPPQlfJ0mqjOvh5UdLwURhI2ACpphJ8M9hsaE6EnRJPeS4nYd21
Vm5TIHYh1OgqOyqINCN9uwrKU7FO5dSNabU82vM31/kNxAFi9qoTgVyTTef6EtP3
qJRmA7X+wY5xPurgi7dsUZYwltU0crRpAHRIya482HWRodhbSHAmo295HTVrwQ1/
TWQmZvP4pimgzBjDS4J+nx7Bw1TaIGkzp4uc+AMiMdW+48hb+44dgCZW2IHfJBWG
2HNxAoHBAL11ZjDHznzisoavwdRCiFB8YnQs/qHl4MNaV5/oFDTqcPSoAjXxpw3z
XGuh9j5cGvtm0p/876Fdtfi50EOZ2F1FA0JMPNyVIqatpYHNaTvx8u4lf4rHEjaU
twl4u7D/pb2+dqkZuLb51ExxJmBxovu/enUXY4gUH7RpLtTjVzIa+TAb5bmNn1cl
cPbsAGlUT/fRhd4PIJM27iRYUnk4S3SHLQ/iQEL4fk8ePaizDhI8JwS3K389Yr4O
9JAb/F2IbwKBwAGFm81sV6wX7hRLEDC08RTUmXgDve3gJeEZ7+3QQuzVraLchzWk
/NKRky+m9wj1Vo/l58KxPkBpu7YFWSgfoqbrdr0yk0FHFn2F6JrpKko8b+trkP7C
Hyrj88LVgrWFYTE4k7l9Mfbd2ks+6+t67ASeetkPe2vDSQXghwIRhLbk53kDJVjs
vmGNB4B+on1H1Gvfo2zu58kVhWoZ+sbgmvCivUhhGy0zTdq7uiNvVt9vQg+/BzLW
CMT71O0VLGJ4IQKBwQCLLkCpW0+NHTkLivh4x3u+rPHi6N8S7n5k5Ox0U5jsmsHq
abZeDK2tqPdfNrdgbmeAArR+xeEAiYhSNacS0mVJd5aCUOFxJroy+mQY7F7/o6nU
W4XL3Jy7rhqdAa3YxKXss4wWhAfXm8bjdUg9F54lFTCP7mO3Jxl3fsHhsTVwYLJp
LkVgP/MroRzQuOVAe6jXpHuUe0Zx/6uI1b2Ywctkyp1HCu4shMK9uriPQyL2MGx1
oV559g2hE/mEGJsX108CgcEAiYtrAyjadiB+MibPdJKZ8bMm9fdArnkH1Yr8UIro
OU3t2dfqouBKbR0Uc6YlPai8Rd+NsFXiP2w9nPP9aZeSdgTIkpEgEL4g+kEd+Ebd
BkBrYLmCn9nL2RBbwMI/8/u7Ffqwp1wQDun4IrDvVBUbIo/J9mdoqGlPMSHiZj0p
3mnKkmaybjjSUXsba62MygjEObEziuCgmRj0IYk0IvanzfdgNeFv8IDITFwM2NpW
6QzrO6ylwXI4l8tbn5exbMhQ
-----END PRIVATE KEY-----
"""
}
